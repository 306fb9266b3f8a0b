package imageref

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/distribution/reference"
	"github.com/google/go-cmp/cmp"
)

// The hand-written grammar must accept and refuse exactly what github.com/distribution/reference
// does, with the same errors; these tests compare the two on generated references.

// want is what distribution/reference says about image, name and tag, in the words Check,
// CheckName and CheckTag use.
func want(s string) (check, checkName, checkTag string) {
	named, err := reference.ParseNormalizedNamed(s)
	check = errText(err)
	switch {
	case err != nil:
		checkName = check
	case !reference.IsNameOnly(named):
		checkName = fmt.Sprintf("%q has a tag or digest; give the repository alone", s)
	}
	name, _ := reference.WithName("example")
	if _, err := reference.WithTag(name, s); err != nil {
		checkTag = fmt.Sprintf("%q is no image tag (up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-')", s)
	}
	return check, checkName, checkTag
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func compare(t *testing.T, s string) bool {
	t.Helper()
	check, checkName, checkTag := want(s)
	got := [3]string{errText(Check(s)), errText(CheckName(s)), errText(CheckTag(s))}
	if diff := cmp.Diff([3]string{check, checkName, checkTag}, got); diff != "" {
		t.Errorf("%q: Check, CheckName, CheckTag differ from distribution/reference (-want +got):\n%s", s, diff)
		return false
	}
	return true
}

var (
	domains = []string{"", "localhost", "localhost:5000", "index.docker.io", "docker.io", "ghcr.io", "Registry.Example.com",
		"reg-1.example.com:443", "[::1]", "[2001:db8::1]:5000", "[]", "[g::1]", "[::1", "a..b", "-a.com", "a-.com", "host:",
		"host:port", "host:1:2", "UPPER", "k8s.gcr.io", "a_b.com", "public.ecr.aws", "127.0.0.1:5000", "xn--bcher-kva.example",
		"\u212aube.io", "a.b.c.d.e.f", "[ABCDEF::]:1", "my-org", "My-Org"}
	hexes = "0123456789abcdef"
	// Characters a path component, tag or mutation is drawn from: the grammar's own and some
	// that only look like them.
	alphabet = []string{"a", "b", "z", "0", "9", ".", "_", "-", "__", "--", "A", "Z", ":", "/", "@", "[", "]", "+", "=",
		" ", "\x00", "\n", "é", "\u212a", "\xff", "$"}
)

func hex(r *rand.Rand, n int, upper bool) string {
	var b strings.Builder
	for range n {
		c := hexes[r.IntN(16)]
		if upper && c >= 'a' {
			c -= 'a' - 'A'
		}
		b.WriteByte(c)
	}
	return b.String()
}

func pick(r *rand.Rand, xs []string) string { return xs[r.IntN(len(xs))] }

func component(r *rand.Rand) string {
	switch r.IntN(6) {
	case 0:
		return pick(r, []string{"library", "performer", "my-org", "eigenlayer-hourglass", "a", "x.y", "x__y", "x---y", "x_-y"})
	case 1:
		return strings.Repeat("a", 120+r.IntN(20))
	}
	var b strings.Builder
	for range r.IntN(6) {
		if r.IntN(3) == 0 {
			b.WriteString(pick(r, alphabet))
		} else {
			b.WriteString(pick(r, alphabet[:5]))
		}
	}
	return b.String()
}

func digest(r *rand.Rand) string {
	switch r.IntN(12) {
	case 0:
		return ""
	case 1:
		return "sha256:" + hex(r, 64, true)
	case 2:
		return "sha384:" + hex(r, 96, false)
	case 3:
		return "sha512:" + hex(r, 128, false)
	case 4:
		return "sha256:" + hex(r, 31+r.IntN(40), false)
	case 5:
		return pick(r, []string{"md5", "SHA256", "sha256+b64", "a.b", "a..b", "1a", "a-", "Sha-256", ""}) + ":" + hex(r, 32+r.IntN(40), r.IntN(2) == 0)
	case 6:
		return "sha256:" + hex(r, 64, false) + pick(r, alphabet)
	}
	return "sha256:" + hex(r, 64, false)
}

// generated is a reference built from parts that may or may not fit the grammar, sometimes
// mutated further.
func generated(r *rand.Rand) string {
	var b strings.Builder
	if d := pick(r, domains); d != "" {
		b.WriteString(d + "/")
	}
	for i := range 1 + r.IntN(3) {
		if i > 0 {
			b.WriteString("/")
		}
		b.WriteString(component(r))
	}
	switch r.IntN(4) {
	case 0:
		b.WriteString(":" + component(r))
	case 1:
		b.WriteString(":" + pick(r, []string{"v1.0.0-rc.2", "latest", "_x", ".x", "-x", strings.Repeat("t", 127+r.IntN(3))}))
	}
	if d := digest(r); d != "" && r.IntN(2) == 0 {
		b.WriteString("@" + d)
	}
	s := b.String()
	for range r.IntN(3) {
		i := r.IntN(len(s) + 1)
		switch r.IntN(3) {
		case 0:
			s = s[:i] + pick(r, alphabet) + s[i:]
		case 1:
			if i < len(s) {
				s = s[:i] + s[i+1:]
			}
		case 2:
			if i < len(s) {
				s = s[:i] + strings.ToUpper(s[i:i+1]) + s[i+1:]
			}
		}
	}
	return s
}

// TestGrammarAgreesWithDistributionReference compares the two on a large generated corpus:
// structured references, their mutations and short random strings over the grammar's alphabet.
func TestGrammarAgreesWithDistributionReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	accepted, failures := 0, 0
	for i := range 300000 {
		var s string
		if i%3 == 0 {
			var b strings.Builder
			for range r.IntN(12) {
				b.WriteString(pick(r, alphabet))
			}
			s = b.String()
		} else {
			s = generated(r)
		}
		if Check(s) == nil {
			accepted++
		}
		if !compare(t, s) {
			if failures++; failures > 20 {
				t.Fatal("too many differences")
			}
		}
	}
	// The corpus must exercise both sides.
	if accepted < 10000 {
		t.Errorf("only %d of the generated references are valid", accepted)
	}
}

// TestGrammarErrors covers every error of the grammar by name, so that a corpus that happens to
// miss one cannot hide a difference.
func TestGrammarErrors(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range grammarSeeds {
		compare(t, s)
		seen[errText(Check(s))] = true
	}
	for _, err := range []error{errReferenceInvalidFormat, errNameContainsUppercase, errNameTooLong,
		errDigestInvalidFormat, errDigestInvalidLength, errDigestUnsupported, nil} {
		if !seen[errText(err)] {
			t.Errorf("no seed gets the error %q", errText(err))
		}
	}
	for _, pair := range [][2]error{
		{errReferenceInvalidFormat, reference.ErrReferenceInvalidFormat},
		{errNameContainsUppercase, reference.ErrNameContainsUppercase},
		{errNameTooLong, reference.ErrNameTooLong},
	} {
		if pair[0].Error() != pair[1].Error() {
			t.Errorf("error %q, distribution/reference says %q", pair[0], pair[1])
		}
	}
}

var grammarSeeds = []string{
	"", "a", "A", "my-org/performer", "my-org/performer:v1", "registry:5000/performer", "registry:5000/performer:v2",
	"ghcr.io/a/b@sha256:" + strings.Repeat("0", 64), "ghcr.io/a/b:v1@sha256:" + strings.Repeat("0", 64),
	strings.Repeat("ab", 32), strings.Repeat("a", 256), "a/" + strings.Repeat("a", 255), "a/" + strings.Repeat("a", 254),
	"localhost/" + strings.Repeat("a", 256), "a@sha256:" + strings.Repeat("A", 64), "a@sha256:" + strings.Repeat("0", 63),
	"a@sha256:" + strings.Repeat("0", 65), "a@md5:" + strings.Repeat("0", 32), "a@MD5:" + strings.Repeat("0", 32),
	"a@sha384:" + strings.Repeat("0", 96), "a@sha512:" + strings.Repeat("0", 128), "Foo/bar", "foo/Bar", "foo/bar:TAG",
	"[::1]:5000/a", "[::1]/a", "[::1]", "localhost:5000", "a:b:c", "a:b/c", "a//b", "a/", "/a", "a b", "\u212aube/a",
	"index.docker.io/a", "docker.io/library/a:" + strings.Repeat("t", 128), "a:" + strings.Repeat("t", 129), "a__b", "a___b",
	"a.-b", "a--b", "a@b", "a@@sha256:" + strings.Repeat("0", 64), "a:@sha256:" + strings.Repeat("0", 64),
}

// FuzzGrammar compares the two on whatever the fuzzer finds; its seeds run with every go test.
func FuzzGrammar(f *testing.F) {
	for _, s := range grammarSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { compare(t, s) })
}
