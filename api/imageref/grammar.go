package imageref

import (
	"crypto"
	"errors"
	"fmt"
	"strings"
)

// The grammar of image references, after github.com/distribution/reference v0.6 (regexp.go):
//
//	reference     := name [ ":" tag ] [ "@" digest ]
//	name          := [ domain "/" ] remote-name
//	domain        := host [ ":" port ]            host: DNS name or [IPv6]
//	remote-name   := path-component { "/" path-component }
//	path-component:= [a-z0-9]+ { separator [a-z0-9]+ }   separator: "." | "_" | "__" | "-"+
//	tag           := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
//	digest        := algorithm ":" hex{32,}
//
// Its errors are worded as that package and github.com/opencontainers/go-digest word them.
var (
	errReferenceInvalidFormat = errors.New("invalid reference format")
	errNameContainsUppercase  = errors.New("repository name must be lowercase")
	errNameTooLong            = fmt.Errorf("repository name must not be more than %v characters", repositoryNameTotalLengthMax)
	errDigestInvalidFormat    = errors.New("invalid checksum digest format")
	errDigestInvalidLength    = errors.New("invalid checksum digest length")
	errDigestUnsupported      = errors.New("unsupported digest algorithm")
)

const repositoryNameTotalLengthMax = 255

// parseNormalized reads s as distribution/reference's ParseNormalizedNamed does: a name without
// a registry is on docker.io, one without an organisation in library/.
func parseNormalized(s string) (Reference, error) {
	if len(s) == 64 && isLowerHex(s) {
		return Reference{}, fmt.Errorf("invalid repository name (%s), cannot specify 64-byte hexadecimal strings", s)
	}
	domain, remainder := splitDockerDomain(s)
	remote := remainder
	if i := strings.IndexByte(remainder, ':'); i > -1 {
		remote = remainder[:i]
	}
	if strings.ToLower(remote) != remote {
		return Reference{}, fmt.Errorf("invalid reference format: repository name (%s) must be lowercase", remote)
	}
	return parse(domain + "/" + remainder)
}

// splitDockerDomain is distribution/reference's: the first component is a registry if it has a
// dot or colon, is localhost or has upper-case letters.
func splitDockerDomain(name string) (domain, remoteName string) {
	maybeDomain, maybeRemoteName, ok := strings.Cut(name, "/")
	if !ok {
		return "docker.io", "library/" + name
	}
	switch {
	case maybeDomain == "localhost":
		domain, remoteName = maybeDomain, maybeRemoteName
	case maybeDomain == "index.docker.io":
		domain, remoteName = "docker.io", maybeRemoteName
	case strings.ContainsAny(maybeDomain, ".:"):
		domain, remoteName = maybeDomain, maybeRemoteName
	case strings.ToLower(maybeDomain) != maybeDomain:
		domain, remoteName = maybeDomain, maybeRemoteName
	default:
		domain, remoteName = "docker.io", name
	}
	if domain == "docker.io" && !strings.ContainsRune(remoteName, '/') {
		remoteName = "library/" + remoteName
	}
	return domain, remoteName
}

// parse is distribution/reference's Parse for references that have a name.
func parse(s string) (Reference, error) {
	r, ok := match(s)
	if !ok {
		if s == "" {
			return Reference{}, errors.New("repository name must have at least one component")
		}
		if _, ok := match(strings.ToLower(s)); ok {
			return Reference{}, errNameContainsUppercase
		}
		return Reference{}, errReferenceInvalidFormat
	}
	path := r.Name
	// The registry is the first component when it can be one: a name reads it that way first.
	if domain, rest, ok := strings.Cut(r.Name, "/"); ok && isDomain(domain) && isRemoteName(rest) {
		path = rest
	}
	if len(path) > repositoryNameTotalLengthMax {
		return Reference{}, errNameTooLong
	}
	if r.Digest != "" {
		if err := validateDigest(r.Digest); err != nil {
			return Reference{}, err
		}
	}
	return r, nil
}

// match takes s apart by the reference grammar. Only a domain's port and an IPv6 host hold a
// colon before the last slash, so a colon after it starts the tag; nothing but the digest holds
// an at sign.
func match(s string) (Reference, bool) {
	var r Reference
	if i := strings.IndexByte(s, '@'); i >= 0 {
		s, r.Digest = s[:i], s[i+1:]
		if !isDigest(r.Digest) {
			return Reference{}, false
		}
	}
	if i := strings.LastIndexByte(s, ':'); i >= 0 && !strings.Contains(s[i+1:], "/") {
		s, r.Tag = s[:i], s[i+1:]
		if !isTag(r.Tag) {
			return Reference{}, false
		}
	}
	r.Name = s
	if !isRemoteName(s) {
		domain, rest, ok := strings.Cut(s, "/")
		if !ok || !isDomain(domain) || !isRemoteName(rest) {
			return Reference{}, false
		}
	}
	return r, true
}

// isDomain: a DNS name or a bracketed IPv6 address, with an optional port.
func isDomain(s string) bool {
	var host, port string
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return false
		}
		host, port = s[:end+1], s[end+1:]
		inner := host[1 : len(host)-1]
		if inner == "" {
			return false
		}
		for i := 0; i < len(inner); i++ {
			if c := inner[i]; !isHexDigit(c) && c != ':' {
				return false
			}
		}
	} else {
		host, port = s, ""
		if i := strings.IndexByte(s, ':'); i >= 0 {
			host, port = s[:i], s[i:]
		}
		for _, c := range strings.Split(host, ".") {
			if c == "" || c[0] == '-' || c[len(c)-1] == '-' {
				return false
			}
			for i := 0; i < len(c); i++ {
				if !isAlnum(c[i]) && c[i] != '-' {
					return false
				}
			}
		}
	}
	if port == "" {
		return true
	}
	if port[0] != ':' || len(port) == 1 {
		return false
	}
	for i := 1; i < len(port); i++ {
		if port[i] < '0' || port[i] > '9' {
			return false
		}
	}
	return true
}

// isRemoteName: path components of lower-case letters and digits, joined by "/", each with ".",
// "_", "__" or a run of "-" between its runs of letters and digits.
func isRemoteName(s string) bool {
	for _, c := range strings.Split(s, "/") {
		if c == "" || !isLowerAlnum(c[0]) || !isLowerAlnum(c[len(c)-1]) {
			return false
		}
		for i := 0; i < len(c); {
			if isLowerAlnum(c[i]) {
				i++
				continue
			}
			j := i
			for j < len(c) && !isLowerAlnum(c[j]) {
				j++
			}
			switch sep := c[i:j]; {
			case sep == "." || sep == "_" || sep == "__":
			case strings.Trim(sep, "-") == "":
			default:
				return false
			}
			i = j
		}
	}
	return true
}

func isTag(s string) bool {
	if s == "" || len(s) > 128 || s[0] == '.' || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '_' && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

// isDigest: an algorithm (components of a letter and letters or digits, joined by one of
// "-_+."), a colon and at least 32 hex digits.
func isDigest(s string) bool {
	alg, hex, ok := strings.Cut(s, ":")
	if !ok || len(hex) < 32 {
		return false
	}
	for i := 0; i < len(hex); i++ {
		if !isHexDigit(hex[i]) {
			return false
		}
	}
	start := true
	for i := 0; i < len(alg); i++ {
		c := alg[i]
		switch {
		case start:
			if !isLetter(c) {
				return false
			}
			start = false
		case c == '-' || c == '_' || c == '+' || c == '.':
			start = true
		case !isAlnum(c):
			return false
		}
	}
	return alg != "" && !start
}

// validateDigest is go-digest's Digest.Validate: sha256, sha384 and sha512 when the program has
// their hashes linked in, in lower-case hex of the hash's length.
func validateDigest(s string) error {
	i := strings.IndexByte(s, ':')
	if i <= 0 || i+1 == len(s) {
		return errDigestInvalidFormat
	}
	alg, encoded := s[:i], s[i+1:]
	var h crypto.Hash
	switch alg {
	case "sha256":
		h = crypto.SHA256
	case "sha384":
		h = crypto.SHA384
	case "sha512":
		h = crypto.SHA512
	}
	if h == 0 || !h.Available() {
		if !isLowerAlgorithm(alg) || !isEncoded(encoded) {
			return errDigestInvalidFormat
		}
		return errDigestUnsupported
	}
	if h.Size()*2 != len(encoded) {
		return errDigestInvalidLength
	}
	if !isLowerHex(encoded) {
		return errDigestInvalidFormat
	}
	return nil
}

// isLowerAlgorithm: go-digest's algorithm form, [a-z0-9]+ joined by single ".+_-".
func isLowerAlgorithm(s string) bool {
	start := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isLowerAlnum(c):
			start = false
		case (c == '.' || c == '+' || c == '_' || c == '-') && !start:
			start = true
		default:
			return false
		}
	}
	return s != "" && !start
}

// isEncoded: go-digest's encoded form, [a-zA-Z0-9=_-]+.
func isEncoded(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '=' && c != '_' && c != '-' {
			return false
		}
	}
	return s != ""
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool     { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isAlnum(c byte) bool      { return isLetter(c) || '0' <= c && c <= '9' }
func isLowerAlnum(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }
func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
