package realnode

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/hourglass-gitops/hourglass-gitops/test/framework/cluster"
)

// examples/basic pointed at the node keeps everything else of the declaration.
func TestDeclaration(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "..", "examples", "basic", "executor.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := Declaration(src, "v9")
	if err != nil {
		t.Fatal(err)
	}
	var before, after map[string]any
	if err := yaml.Unmarshal(src, &before); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(out, &after); err != nil {
		t.Fatal(err)
	}
	sched := map[string]any{
		"nodeSelector": map[string]any{"kubernetes.io/hostname": cluster.RealNodeName},
		"tolerations":  []any{map[string]any{"key": cluster.RealNodeTaint, "operator": "Exists", "effect": "NoSchedule"}},
	}
	spec := before["spec"].(map[string]any)
	ex := spec["executor"].(map[string]any)
	ex["image"] = map[string]any{"repository": ExecutorRepository, "tag": ExecutorTag, "pullPolicy": "Never"}
	ex["scheduling"] = sched
	avs := spec["avs"].(map[string]any)["supportedAvs"].([]any)[0].(map[string]any)
	avs["performer"] = map[string]any{"image": PerformerRepository, "version": "v9"}
	avs["scheduling"] = sched
	spec["persistence"] = map[string]any{"enabled": true, "size": "1Gi", "storageClassName": cluster.RealNodeStorageClass}
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("declaration (-want +got):\n%s", diff)
	}

	if _, err := Declaration([]byte("apiVersion: v1\nspec:\n  avs: {}\n"), "v9"); err == nil || !strings.Contains(err.Error(), "supportedAvs") {
		t.Errorf("a declaration without AVSs: error %v, want one naming spec.avs.supportedAvs", err)
	}
}
