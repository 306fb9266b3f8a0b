// Package imageref splits container image references into name, tag and digest. The KRM function
// and the Performer controller both read performer images with it, so that the executor
// configuration the function writes and the Deployment the controller builds agree on what a tag is.
package imageref

import (
	"fmt"
	"strings"

	"github.com/distribution/reference"
)

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

// Check reports whether image is a reference that container runtimes accept: the grammar of
// github.com/distribution/reference (lower-case repository, optional registry host and port,
// tag and digest).
func Check(image string) error {
	_, err := reference.ParseNormalizedNamed(image)
	return err
}

// CheckName reports whether name is a repository without tag or digest.
func CheckName(name string) error {
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return err
	}
	if !reference.IsNameOnly(named) {
		return fmt.Errorf("%q has a tag or digest; give the repository alone", name)
	}
	return nil
}

// CheckTag reports whether tag is a valid image tag: up to 128 letters, digits, '_', '.' and
// '-', not starting with '.' or '-'.
func CheckTag(tag string) error {
	name, _ := reference.WithName("example")
	if _, err := reference.WithTag(name, tag); err != nil {
		return fmt.Errorf("%q is no image tag (up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-')", tag)
	}
	return nil
}
