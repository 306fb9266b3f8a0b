// Command node-image writes a single-layer image of local static binaries as an OCI image
// layout archive, for `ctr images import` on the real node (hack/local-cluster.sh builds the
// pod sandbox image with it).
//
//	node-image -ref localhost/hourglass/pause:1 -o pause.tar -entrypoint /pause /pause=bin/pause
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/hourglass-gitops/hourglass-gitops/test/framework/node"
)

func main() {
	ref := flag.String("ref", "", "image name with tag, e.g. localhost/hourglass/pause:1")
	out := flag.String("o", "", "archive to write (a tar of an OCI image layout)")
	entrypoint := flag.String("entrypoint", "", "the image's entrypoint (one path)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: node-image -ref NAME:TAG -o FILE.tar [-entrypoint PATH] IMAGE_PATH=LOCAL_FILE...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *ref == "" || *out == "" || flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	im := node.Image{Ref: *ref, Files: map[string]string{}}
	if *entrypoint != "" {
		im.Entrypoint = []string{*entrypoint}
	}
	for _, a := range flag.Args() {
		dst, src, ok := strings.Cut(a, "=")
		if !ok || dst == "" || src == "" {
			fmt.Fprintf(os.Stderr, "node-image: argument %q: want IMAGE_PATH=LOCAL_FILE\n", a)
			os.Exit(2)
		}
		im.Files[dst] = src
	}
	if err := im.WriteArchive(*out); err != nil {
		fmt.Fprintf(os.Stderr, "node-image: %v\n", err)
		os.Exit(1)
	}
}
