package avsexecutor

import (
	"fmt"

	"github.com/distribution/reference"
)

// checkImage reports whether image is a reference that container runtimes accept: the grammar of
// github.com/distribution/reference (lower-case repository, optional registry host and port,
// tag and digest).
func checkImage(image string) error {
	_, err := reference.ParseNormalizedNamed(image)
	return err
}

// checkImageName reports whether name is a repository without tag or digest.
func checkImageName(name string) error {
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return err
	}
	if !reference.IsNameOnly(named) {
		return fmt.Errorf("%q has a tag or digest; give the repository alone", name)
	}
	return nil
}

// checkImageTag reports whether tag is a valid image tag: up to 128 letters, digits, '_', '.' and
// '-', not starting with '.' or '-'.
func checkImageTag(tag string) error {
	name, _ := reference.WithName("example")
	if _, err := reference.WithTag(name, tag); err != nil {
		return fmt.Errorf("%q is no image tag (up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-')", tag)
	}
	return nil
}
