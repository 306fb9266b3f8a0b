package flux_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

type workflow struct {
	Permissions map[string]string `json:"permissions"`
	Jobs        map[string]struct {
		Permissions map[string]string `json:"permissions"`
		Steps       []struct {
			Uses string `json:"uses"`
			Run  string `json:"run"`
		} `json:"steps"`
	} `json:"jobs"`
}

// release is a version tag of a release: a branch such as main can change under the workflow.
var release = regexp.MustCompile(`@v[0-9]+\.[0-9]+\.[0-9]+$`)

// TestWorkflowsPinnedAndLeastPrivileged checks the CI workflows users copy: every action is
// pinned to a released version, the workflow grants nothing by default, and the job that renders
// (running exec KRM functions on repository content) cannot write: write permissions belong to
// jobs that run no kustomize.
func TestWorkflowsPinnedAndLeastPrivileged(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("ci", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no workflows in ci/: %v", err)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var w workflow
		if err := yaml.Unmarshal(raw, &w); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if w.Permissions == nil || len(w.Permissions) > 0 {
			t.Errorf("%s: the workflow must set permissions: {} and grant per job, has %v", f, w.Permissions)
		}
		for name, job := range w.Jobs {
			if job.Permissions == nil {
				t.Errorf("%s: job %s sets no permissions", f, name)
			}
			renders := false
			for _, s := range job.Steps {
				if s.Uses != "" && !release.MatchString(s.Uses) {
					t.Errorf("%s: job %s uses %s, which is not pinned to a released version", f, name, s.Uses)
				}
				renders = renders || strings.Contains(s.Run, "kustomize build")
			}
			for scope, level := range job.Permissions {
				if level == "write" && renders {
					t.Errorf("%s: job %s renders with exec functions and has %s: write", f, name, scope)
				}
			}
		}
	}
}
