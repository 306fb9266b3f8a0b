package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// A place is where a file repeats the release version: every match of re in the files of glob
// (relative to the repository root) has the version as its first group.
type place struct {
	glob string
	re   *regexp.Regexp
	// why says what the value is, for the drift message.
	why string
}

// places lists every file that carries the version besides VERSION. `make set-version` rewrites
// them; `make check-version` (and the test of this package) fails when one differs.
var places = []place{
	{"base/kustomization.yaml", regexp.MustCompile(`(?m)^  newTag: (\S+)$`), "the controller image tag of the install"},
	{"examples/flux/operator.yaml", regexp.MustCompile(`(?m)^    tag: (\S+)$`), "the Git tag Flux installs the operator from"},
	{"examples/flux/ci/*.yaml", regexp.MustCompile(`(?m)^  HOURGLASS_VERSION: (\S+)$`), "the function release CI renders with"},
	{"examples/argocd/application.yaml", regexp.MustCompile(`(?m)^    targetRevision: (v\S+)$`), "the Git tag Argo CD installs the operator from"},
	{"examples/argocd/repo-server-patch.yaml", regexp.MustCompile(`hourglass-gitops/argocd-cmp:(\S+)`), "the plugin sidecar image tag"},
	{"functions/avsexecutor/model.go", regexp.MustCompile(`DefaultForwarderTag\s+= "([^"]+)"`), "the function's default forwarder image tag"},
	{"functions/avsexecutor/testdata/*/expected.yaml", regexp.MustCompile(`hourglass-gitops/performer-controller:(\S+)`), "the forwarder image the function renders by default"},
	{"examples/*/.expected/output.yaml", regexp.MustCompile(`hourglass-gitops/performer-controller:(\S+)`), "the forwarder image the examples render"},
	{"functions/README.md", regexp.MustCompile("hourglass-gitops/(?:performer-controller|avs-executor-fn):([^\\s`]+)"), "the images the function's documentation names"},
	{"examples/*/README.md", regexp.MustCompile("hourglass-gitops/avs-executor-fn:([^\\s`}]+)"), "the function image the examples' READMEs name"},
	{"functions/README.md", regexp.MustCompile("the tag of the base install, `([^`]+)`"), "the forwarder's default tag"},
	{"docs/quickstart.md", regexp.MustCompile(`releases/download/([^/]+)/install\.yaml`), "the release the quick start installs"},
	{"docs/quickstart.md", regexp.MustCompile(`sample-performer\n\s+version: (\S+)`), "the sample performer image the quick start runs"},
	{"test/framework/gitops/gitops.go", regexp.MustCompile(`Release = "([^"]+)"`), "the tag the local Git server serves the operator at"},
	{"test/framework/realnode/realnode.go", regexp.MustCompile(`hourglass-gitops/performer-controller:([^"]+)"`), "the controller image the real node imports"},
}

var versionRe = regexp.MustCompile(`^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?$`)

// readVersion reads the VERSION file of root.
func readVersion(root string) (string, error) {
	b, err := os.ReadFile(filepath.Join(root, "VERSION"))
	if err != nil {
		return "", err
	}
	v := strings.TrimSpace(string(b))
	if !versionRe.MatchString(v) {
		return "", fmt.Errorf("VERSION: %q is not a semantic version with a leading v (v1.2.3 or v1.2.3-rc.1)", v)
	}
	return v, nil
}

// drift is one value that differs from the version.
type drift struct {
	file, value, why string
	line             int
}

func (d drift) String() string {
	return fmt.Sprintf("%s:%d: %s is %q", d.file, d.line, d.why, d.value)
}

// files expands the glob of p, sorted.
func (p place) files(root string) ([]string, error) {
	m, err := filepath.Glob(filepath.Join(root, p.glob))
	if err != nil {
		return nil, err
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("%s: no such file (the list of places in hack/release/places.go is stale)", p.glob)
	}
	sort.Strings(m)
	return m, nil
}

// check returns every value of every place that is not version.
func check(root, version string) ([]drift, error) {
	var out []drift
	for _, p := range places {
		files, err := p.files(root)
		if err != nil {
			return nil, err
		}
		found := 0
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			rel, _ := filepath.Rel(root, f)
			ms := p.re.FindAllSubmatchIndex(b, -1)
			found += len(ms)
			for _, m := range ms {
				if v := string(b[m[2]:m[3]]); v != version {
					out = append(out, drift{rel, v, p.why, 1 + strings.Count(string(b[:m[2]]), "\n")})
				}
			}
		}
		if found == 0 {
			return nil, fmt.Errorf("%s: %s not found (pattern %s; update hack/release/places.go)", p.glob, p.why, p.re)
		}
	}
	return out, nil
}

// setVersion writes version into VERSION and every place.
func setVersion(root, version string) error {
	if !versionRe.MatchString(version) {
		return fmt.Errorf("%q is not a semantic version with a leading v (v1.2.3 or v1.2.3-rc.1)", version)
	}
	for _, p := range places {
		files, err := p.files(root)
		if err != nil {
			return err
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			var buf []byte
			last := 0
			for _, m := range p.re.FindAllSubmatchIndex(b, -1) {
				buf = append(buf, b[last:m[2]]...)
				buf = append(buf, version...)
				last = m[3]
			}
			buf = append(buf, b[last:]...)
			if string(buf) != string(b) {
				if err := os.WriteFile(f, buf, 0o644); err != nil {
					return err
				}
			}
		}
	}
	return os.WriteFile(filepath.Join(root, "VERSION"), []byte(version+"\n"), 0o644)
}
