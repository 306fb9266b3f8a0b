// Package imageref splits container image references into name, tag and digest. The KRM function
// and the Performer controller both read performer images with it, so that the executor
// configuration the function writes and the Deployment the controller builds agree on what a tag is.
// It checks no grammar (the function does, with github.com/distribution/reference): the controller
// imports it too, and the grammar's regular expressions would cost every controller process half
// a megabyte of heap.
package imageref

import "strings"

// Reference is an image reference taken apart: Name has neither tag nor digest.
type Reference struct {
	Name   string
	Tag    string
	Digest string
}

// Split takes an image reference apart. A colon before the last slash belongs to a registry's
// host:port, not to a tag.
func Split(image string) Reference {
	var r Reference
	if i := strings.Index(image, "@"); i >= 0 {
		image, r.Digest = image[:i], image[i+1:]
	}
	slash := strings.LastIndex(image, "/")
	if i := strings.LastIndex(image, ":"); i > slash {
		image, r.Tag = image[:i], image[i+1:]
	}
	r.Name = image
	return r
}

// Pinned reports whether the reference names a tag or a digest.
func (r Reference) Pinned() bool { return r.Tag != "" || r.Digest != "" }
