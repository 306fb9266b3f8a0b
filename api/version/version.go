// Package version holds the release the binaries were built from. The image builder
// (hack/images) stamps it with -ldflags -X; a plain `go build` or `go run` reports what the Go
// toolchain knows (the module version, or "devel").
//
// It lives under api/ beside imageref and hardware because api/ is the one tree the controller,
// the forwarder and the KRM function all import, and the only one both Dockerfiles copy.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set at link time: -X github.com/hourglass-gitops/hourglass-gitops/api/version.Version=v0.3.0
// and -X ...version.Revision=<git commit>.
var (
	Version  = ""
	Revision = ""
)

// Get returns the stamped version, else the module version from the build info, else "devel".
func Get() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// String is the line --version prints: the program, its version, the commit when known, and the
// Go version and platform it was built for.
func String(program string) string {
	s := program + " " + Get()
	if Revision != "" {
		s += " (" + Revision + ")"
	}
	return fmt.Sprintf("%s %s %s/%s", s, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
