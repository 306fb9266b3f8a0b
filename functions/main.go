// Command avs-executor-fn is a KRM function that turns an AVSExecutor declaration into an Hourglass
// executor (StatefulSet, Services, RBAC, configuration) and one Performer per AVS. It reads a
// ResourceList on stdin and writes one on stdout; see functions/README.md.
package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/kustomize/kyaml/fn/framework/command"

	"github.com/hourglass-gitops/hourglass-gitops/api/version"
	"github.com/hourglass-gitops/hourglass-gitops/functions/avsexecutor"
	"github.com/hourglass-gitops/hourglass-gitops/functions/plugin"
	"github.com/hourglass-gitops/hourglass-gitops/functions/profiles"
	"github.com/hourglass-gitops/hourglass-gitops/functions/yamlnode"
)

const usage = `avs-executor-fn %s renders an AVSExecutor declaration (fn.hourglass.eigenlayer.io/v1alpha1)
into the executor StatefulSet, its Services, ServiceAccount, RBAC and configuration, and one
Performer per AVS. It is a KRM function: it reads a ResourceList on stdin and writes one on stdout,
and takes no arguments.

Run it as a container image or as an executable (exec), from kpt or kustomize:

  # Kptfile: kpt fn render DIR (image) or kpt fn render --allow-exec DIR (exec)
  pipeline:
    mutators:
      - image: ghcr.io/hourglass-gitops/avs-executor-fn:%s
        configPath: executor.yaml
      - exec: avs-executor-fn            # instead of image: a path, resolved from kpt's working directory
        configPath: executor.yaml

  # executor.yaml, under generators: (or transformers:) of a kustomization:
  # kustomize build --enable-alpha-plugins DIR (image), add --enable-exec for exec
  apiVersion: fn.hourglass.eigenlayer.io/v1alpha1
  kind: AVSExecutor
  metadata:
    name: my-avs-executor
    namespace: my-avs-project
    annotations:
      config.kubernetes.io/local-config: "true"
      config.kubernetes.io/function: |
        container:
          image: ghcr.io/hourglass-gitops/avs-executor-fn:%s
        # or: exec: {path: ../../bin/avs-executor-fn}  (resolved from the kustomization)
  spec:
    aggregator:
      endpoint: aggregator.example.com:9090   # host:port, no scheme; tls.enabled for TLS
    chains:
      ethereum:
        enabled: true
        rpcUrl: https://eth-mainnet.example.com
    avs:
      supportedAvs:
        - name: my-avs
          address: "0x1234567890abcdef1234567890abcdef12345678"
          performer: {image: my-org/my-avs-performer, version: v1.0.0}
    operator:
      address: "0xabcdefabcdefabcdefabcdefabcdefabcdefabcd"
      keys: {secretName: my-avs-operator-keys}

  kpt fn eval --image ghcr.io/hourglass-gitops/avs-executor-fn:%s --fn-config executor.yaml DIR
  kpt fn eval --exec avs-executor-fn --fn-config executor.yaml DIR

Profiles: built in (%s),
inline under spec.customProfiles, or PerformerProfile resources in the input (kpt packages,
kustomize transformers).

As the Argo CD Config Management Plugin (examples/argocd) it reads a directory instead:
  avs-executor-fn render DIR     print the objects rendered from the AVSExecutor declarations and
                                 PerformerProfiles in DIR, as kustomize build prints them (with the
                                 kustomize on PATH, or $KUSTOMIZE); it runs no other function and
                                 reads no kustomization
  avs-executor-fn discover DIR   list the files of DIR with an AVSExecutor declaration

Every problem is reported as a result with its field path; the function then exits 1 and adds no
objects. The fields of the declaration are documented in functions/README.md and, as an OpenAPI
schema, in functions/schema/. Examples with their rendered output: examples/*/README.md.
`

// main runs the function on the ResourceList on stdin, or, with render or discover, as the
// Argo CD plugin.
func main() {
	startingHeap()
	if len(os.Args) > 1 && (os.Args[1] == "render" || os.Args[1] == "discover") {
		os.Exit(pluginMode(os.Args[1], os.Args[2:]))
	}
	// Errors are printed here, not by kyaml, which prints them without a final newline: kustomize
	// then glues its own message to the last line.
	cmd := command.Build(avsexecutor.Processor{}, command.StandaloneDisabled, true)
	cmd.Use = "avs-executor-fn"
	cmd.Short = "Render an AVSExecutor declaration into an Hourglass executor and its Performers"
	// cobra adds --version and prints the template.
	cmd.Version = version.Get()
	cmd.SetVersionTemplate(version.String("avs-executor-fn") + "\n")
	cmd.Long = fmt.Sprintf(usage, version.Get(), imageTag(), imageTag(), imageTag(), strings.Join(profiles.Names(profiles.BuiltIn(nil)), ", "))
	// Exec functions get no arguments; anything else is a mistake worth stopping at.
	cmd.Args = func(c *cobra.Command, args []string) error {
		if len(args) > 0 {
			return fmt.Errorf("avs-executor-fn takes no arguments (got %q); it reads a ResourceList on stdin, see --help", args)
		}
		return nil
	}
	// kyaml refuses a ResourceList whose function config or items are YAML aliases; read it as
	// if they were written out. (With arguments, such as --help, there is no input to read.)
	if len(os.Args) == 1 {
		in, err := io.ReadAll(os.Stdin)
		if err != nil {
			fmt.Fprintln(os.Stderr, "reading the ResourceList:", err)
			os.Exit(1)
		}
		cmd.SetIn(bytes.NewReader(yamlnode.DerefTopLevelAliases(in)))
	}
	if err := cmd.Execute(); err != nil {
		fmt.Fprint(os.Stderr, withNewline(err.Error()))
		os.Exit(1)
	}
}

// withNewline ends s with exactly one newline.
func withNewline(s string) string {
	return strings.TrimRight(s, "\n") + "\n"
}

// imageTag is the function image's tag in --help: the stamped release, else the release this
// source belongs to (the forwarder default follows it, see hack/release).
func imageTag() string {
	if v := version.Get(); strings.HasPrefix(v, "v") {
		return v
	}
	return avsexecutor.DefaultForwarderTag
}

// pluginMode runs the render and discover subcommands of the Argo CD plugin.
func pluginMode(mode string, args []string) int {
	if len(args) != 1 {
		fmt.Fprintf(os.Stderr, "usage: avs-executor-fn %s DIR\n", mode)
		return 2
	}
	if mode == "discover" {
		files, err := plugin.Discover(args[0])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		for _, f := range files {
			fmt.Println(f)
		}
		return 0
	}
	self, err := os.Executable()
	if err == nil {
		self, err = filepath.EvalSymlinks(self)
	}
	kustomize := "kustomize"
	if k := os.Getenv("KUSTOMIZE"); k != "" {
		kustomize = k
	}
	if err == nil {
		err = plugin.Render(args[0], self, kustomize, os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// startingHeapGOGC lets the heap grow to 16 MB before the first garbage collection: the
// runtime's first collection comes at 4 MB times GOGC/100. That minimum suits long-running
// servers; the function reads one ResourceList and exits, and its start-up alone allocates 2 MB,
// so a small declaration would pay for collections that free memory the process is about to give
// back anyway.
const startingHeapGOGC = 400

// startingHeap raises GOGC until the first collection and then returns it to the default, as the
// Go compiler does for the same reason: a small input's heap is never collected, a large one's is
// managed as usual once it is past the starting size. GOGC in the environment wins.
func startingHeap() {
	if os.Getenv("GOGC") != "" {
		return
	}
	debug.SetGCPercent(startingHeapGOGC)
	// The finalizer runs after the first collection has found the sentinel unreachable. The
	// sentinel holds a pointer so that it is no tiny allocation, whose finalizer might never run.
	sentinel := &struct{ p *int }{}
	runtime.SetFinalizer(sentinel, func(*struct{ p *int }) { debug.SetGCPercent(100) })
}
