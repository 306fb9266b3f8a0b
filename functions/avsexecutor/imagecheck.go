package avsexecutor

import (
	"errors"
	"fmt"
	"strings"

	"github.com/distribution/reference"

	"github.com/hourglass-gitops/hourglass-gitops/functions/redact"
)

// checkImage reports whether image is a reference that container runtimes accept: the grammar of
// github.com/distribution/reference (lower-case repository, optional registry host and port,
// tag and digest).
func checkImage(image string) error {
	_, err := reference.ParseNormalizedNamed(image)
	return imageError(err)
}

// imageError is the reference parser's error without the value, which some of its messages
// quote: the field's message describes the value itself.
func imageError(err error) error {
	if err == nil {
		return nil
	}
	for _, known := range []error{reference.ErrNameContainsUppercase, reference.ErrNameTooLong, reference.ErrNameEmpty,
		reference.ErrNameNotCanonical, reference.ErrTagInvalidFormat, reference.ErrDigestInvalidFormat} {
		if errors.Is(err, known) {
			return known
		}
	}
	switch msg := err.Error(); {
	case strings.Contains(msg, "must be lowercase"):
		return reference.ErrNameContainsUppercase
	case strings.Contains(msg, "64-byte hexadecimal"):
		return errors.New("a repository name cannot be 64 hex digits")
	}
	return reference.ErrReferenceInvalidFormat
}

// checkImageName reports whether name is a repository without tag or digest.
func checkImageName(name string) error {
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return imageError(err)
	}
	if !reference.IsNameOnly(named) {
		return errors.New("it has a tag or digest; give the repository alone")
	}
	return nil
}

// checkImageTag reports whether tag is a valid image tag: up to 128 letters, digits, '_', '.' and
// '-', not starting with '.' or '-'.
func checkImageTag(tag string) error {
	name, _ := reference.WithName("example")
	if _, err := reference.WithTag(name, tag); err != nil {
		return fmt.Errorf("%s is no image tag (up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-')", redact.String(tag))
	}
	return nil
}
