// Command noopfn is a KRM function that does nothing: kyaml's framework reads the ResourceList and
// writes it back. It is the baseline the bench times the AVS executor function against.
package main

import (
	"os"

	"sigs.k8s.io/kustomize/kyaml/fn/framework"
)

func main() {
	if err := framework.Execute(framework.ResourceListProcessorFunc(func(*framework.ResourceList) error { return nil }), nil); err != nil {
		os.Exit(1)
	}
}
