package avsexecutor

import "testing"

// TestChecksumAddress uses the test vectors of EIP-55.
func TestChecksumAddress(t *testing.T) {
	for _, a := range []string{
		"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
		"0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
	} {
		if got := checksumAddress(a[2:]); got != a {
			t.Errorf("checksumAddress(%s) = %s", a, got)
		}
	}
}
