package docrun

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestBlocksAndShell(t *testing.T) {
	page := "# Title\n\n```sh\nA=1\nexport B=2\n```\n\n## Two\n\n```bash\nnot run\n```\n\n```text\nout\n```\n\n```sh\necho \"$A $B\"\n```\n"
	path := filepath.Join(t.TempDir(), "page.md")
	if err := os.WriteFile(path, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	blocks, err := Blocks(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []Block{{Script: "A=1\nexport B=2\n", Section: "Title", Line: 3}, {Script: "echo \"$A $B\"\n", Section: "Two", Line: 18}}
	if diff := cmp.Diff(want, blocks); diff != "" {
		t.Fatalf("blocks (-want +got):\n%s", diff)
	}
	sh := &Shell{Dir: t.TempDir(), Env: os.Environ()}
	defer sh.Close()
	// A block that sets no variable passes on nothing, and does not fail for it.
	if out, _, err := sh.Run(context.Background(), Block{Script: "true\n"}); err != nil {
		t.Fatalf("a block without variables: %v\n%s", err, out)
	}
	for _, b := range blocks[:1] {
		if out, _, err := sh.Run(context.Background(), b); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	}
	out, _, err := sh.Run(context.Background(), blocks[1])
	if err != nil || strings.TrimSpace(out) != "1 2" {
		t.Errorf("second block: %q, %v; want the first block's variables: 1 2", out, err)
	}
	if out, _, err := sh.Run(context.Background(), Block{Script: "false\necho after\n"}); err == nil || strings.Contains(out, "after") {
		t.Errorf("a failing command: %v, %q; want the block to stop with an error", err, out)
	}
}
