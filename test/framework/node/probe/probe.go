// Package probe is what nodeprobe (test/framework/node/cmd/nodeprobe) reports of the container it
// runs in, shared by the probe and the tests that read it.
package probe

// Report is what nodeprobe serve answers.
type Report struct {
	UID             int    `json:"uid"`
	RootReadOnly    bool   `json:"rootReadOnly"`
	RootWriteError  string `json:"rootWriteError,omitempty"`
	SidecarFirst    bool   `json:"sidecarFirst"`
	VolumeRoundTrip bool   `json:"volumeRoundTrip"`
	VolumeError     string `json:"volumeError,omitempty"`
	Hostname        string `json:"hostname"`
}
