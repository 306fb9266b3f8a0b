package avsexecutor

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// TestMatchersAgreeWithPatterns holds the written-out checks on plain values to the regular
// expressions they stand for, on generated strings around each pattern's edges.
func TestMatchersAgreeWithPatterns(t *testing.T) {
	for _, m := range []struct {
		name    string
		pattern *regexp.Regexp
		match   func(string) bool
	}{
		{"isEthAddress", regexp.MustCompile(`^0x[0-9a-fA-F]{40}$`), isEthAddress},
		{"isPrivateKeyHex", regexp.MustCompile(`^(0x)?[0-9a-fA-F]{64}$`), isPrivateKeyHex},
		{"isAPIToken", regexp.MustCompile(`^[A-Za-z0-9_-]{20,}$`), isAPIToken},
	} {
		r := rand.New(rand.NewPCG(3, 4))
		alphabet := []string{"0", "9", "a", "f", "A", "F", "g", "G", "z", "x", "0x", "_", "-", " ", "\n", "é", "\xff"}
		matched := 0
		for range 200000 {
			var b strings.Builder
			if r.IntN(2) == 0 {
				b.WriteString("0x")
			}
			n := []int{18, 19, 20, 21, 39, 40, 41, 62, 63, 64, 65, 66}[r.IntN(12)]
			for range n {
				if r.IntN(20) == 0 {
					b.WriteString(alphabet[r.IntN(len(alphabet))])
				} else {
					b.WriteString(alphabet[r.IntN(6)])
				}
			}
			s := b.String()
			want := m.pattern.MatchString(s)
			if want {
				matched++
			}
			if got := m.match(s); got != want {
				t.Fatalf("%s(%q) = %v, the pattern %s says %v", m.name, s, got, m.pattern, want)
			}
		}
		if matched < 1000 {
			t.Errorf("%s: only %d generated strings match", m.name, matched)
		}
	}
}
