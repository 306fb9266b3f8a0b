// Command release keeps the release version in agreement across the repository and writes the
// release assets besides the images (which `make images` builds):
//
//	go run ./hack/release check                 every file that repeats VERSION agrees with it
//	go run ./hack/release set v0.2.0            writes VERSION and every such file
//	go run ./hack/release build -out _output/release -kustomize "$(hack/tools.sh kustomize)"
//
// build writes install.yaml (kustomize build base/: the CRD, RBAC, the controller and the
// admission policies, in one file as kubebuilder's build-installer and Flux's install manifests
// ship them), metadata.yaml (the function's kpt functions catalog entry) and CHANGELOG.md (the
// entry of the version).
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	if len(args) == 0 {
		return errors.New("usage: release check | set VERSION | build -out DIR -kustomize PATH")
	}
	switch args[0] {
	case "check":
		v, err := readVersion(root)
		if err != nil {
			return err
		}
		return checkErr(root, v)
	case "set":
		if len(args) != 2 {
			return errors.New("usage: release set v1.2.3")
		}
		if err := setVersion(root, args[1]); err != nil {
			return err
		}
		fmt.Printf("VERSION and %d places set to %s; add its CHANGELOG.md section (## %s) before make release\n", len(places), args[1], args[1])
		return nil
	case "build":
		fs := flag.NewFlagSet("build", flag.ContinueOnError)
		out := fs.String("out", "_output/release", "Directory the assets are written to.")
		kustomize := fs.String("kustomize", "kustomize", "The kustomize CLI (hack/tools.sh kustomize).")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		return build(root, *out, *kustomize)
	}
	return fmt.Errorf("unknown command %q: want check, set or build", args[0])
}

// checkErr fails, listing every drifted value, when a place differs from version.
func checkErr(root, version string) error {
	ds, err := check(root, version)
	if err != nil {
		return err
	}
	if len(ds) == 0 {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "VERSION is %s but:\n", version)
	for _, d := range ds {
		fmt.Fprintf(&b, "  %s\n", d)
	}
	fmt.Fprintf(&b, "run 'make set-version V=%s' (or V=<new version>) and commit", version)
	return errors.New(b.String())
}

func build(root, out, kustomize string) error {
	version, err := readVersion(root)
	if err != nil {
		return err
	}
	if err := checkErr(root, version); err != nil {
		return err
	}
	install, err := installYAML(root, kustomize, version)
	if err != nil {
		return err
	}
	meta, err := metadataYAML(root)
	if err != nil {
		return err
	}
	notes, err := changelogEntry(root, version)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for name, b := range map[string][]byte{"install.yaml": install, "metadata.yaml": meta, "CHANGELOG.md": notes} {
		if err := os.WriteFile(filepath.Join(out, name), b, 0o644); err != nil {
			return err
		}
		fmt.Printf("%s  %d bytes\n", filepath.Join(out, name), len(b))
	}
	return nil
}

// installYAML is base/ built by the kustomize CLI, under a header saying how to apply it.
func installYAML(root, kustomize, version string) ([]byte, error) {
	cmd := exec.Command(kustomize, "build", filepath.Join(root, "base"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	body, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s build base: %v\n%s", kustomize, err, stderr.String())
	}
	header := fmt.Sprintf("# Hourglass GitOps %s: the Performer CRD, the controller, its RBAC and the admission policies.\n"+
		"#   kubectl apply --server-side -f install.yaml\n"+
		"# Built from base/ with kustomize; the MutatingAdmissionPolicy needs Kubernetes 1.36 or later.\n---\n", version)
	return append([]byte(header), body...), nil
}

// metadataYAML is functions/metadata.yaml after checking the fields the catalog requires and that
// every example it links exists.
func metadataYAML(root string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(root, "functions", "metadata.yaml"))
	if err != nil {
		return nil, err
	}
	var m struct {
		Image              string   `json:"image"`
		Description        string   `json:"description"`
		Tags               []string `json:"tags"`
		SourceURL          string   `json:"sourceURL"`
		ExamplePackageURLs []string `json:"examplePackageURLs"`
		Emails             []string `json:"emails"`
		License            string   `json:"license"`
	}
	if err := yaml.UnmarshalStrict(b, &m); err != nil {
		return nil, fmt.Errorf("functions/metadata.yaml: %v", err)
	}
	for field, empty := range map[string]bool{"image": m.Image == "", "description": m.Description == "", "tags": len(m.Tags) == 0,
		"sourceURL": m.SourceURL == "", "examplePackageURLs": len(m.ExamplePackageURLs) == 0, "emails": len(m.Emails) == 0, "license": m.License == ""} {
		if empty {
			return nil, fmt.Errorf("functions/metadata.yaml: %s is required by the kpt functions catalog", field)
		}
	}
	const tree = "/tree/main/"
	for i, u := range m.ExamplePackageURLs {
		_, dir, ok := strings.Cut(u, tree)
		if !ok {
			return nil, fmt.Errorf("functions/metadata.yaml: examplePackageURLs[%d]: %q is not a .../tree/main/<dir> URL", i, u)
		}
		if _, err := os.Stat(filepath.Join(root, dir, "Kptfile")); err != nil {
			return nil, fmt.Errorf("functions/metadata.yaml: examplePackageURLs[%d]: %s has no Kptfile", i, dir)
		}
	}
	return b, nil
}

// changelogEntry is the CHANGELOG.md section of version ("## v1.2.3 ..."); before the release is
// cut, the "## Unreleased" section stands for it.
func changelogEntry(root, version string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(root, "CHANGELOG.md"))
	if err != nil {
		return nil, err
	}
	lines := strings.SplitAfter(string(b), "\n")
	section := func(match func(string) bool) string {
		for i, l := range lines {
			if strings.HasPrefix(l, "## ") && match(strings.TrimSpace(strings.TrimPrefix(l, "## "))) {
				j := i + 1
				for j < len(lines) && !strings.HasPrefix(lines[j], "## ") {
					j++
				}
				return strings.Join(lines[i+1:j], "")
			}
		}
		return ""
	}
	body := section(func(h string) bool {
		return h == version || strings.HasPrefix(h, version+" ") || strings.HasPrefix(h, "["+version+"]")
	})
	if body == "" {
		body = section(func(h string) bool { return strings.EqualFold(strings.Trim(h, "[]"), "unreleased") })
	}
	if strings.TrimSpace(body) == "" {
		return nil, fmt.Errorf("CHANGELOG.md has no section \"## %s\" nor \"## Unreleased\" with entries", version)
	}
	return []byte("## " + version + "\n" + body), nil
}

func repoRoot() (string, error) {
	out, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		return "", fmt.Errorf("not in a git checkout: %v", err)
	}
	return strings.TrimSpace(string(out)), nil
}
