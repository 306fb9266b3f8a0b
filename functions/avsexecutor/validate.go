package avsexecutor

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"

	fnv1alpha1 "github.com/hourglass-gitops/hourglass-gitops/api/fn/v1alpha1"
	"github.com/hourglass-gitops/hourglass-gitops/api/hardware"
	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
	"github.com/hourglass-gitops/hourglass-gitops/functions/profiles"
)

// Defaults of the declaration.
const (
	DefaultExecutorGRPCPort  int32 = 9095
	DefaultOperatorNamespace       = "hourglass-system"
	DefaultConnectionTimeout       = 30 * time.Second
	DefaultECDSAKey                = "ecdsa-private-key"
	maxExecutorName                = 52
	maxAVSName                     = v1alpha1.MaxNameLength
)

// DefaultVolumeSize is the size of each executor volume unless persistence.size says otherwise.
var DefaultVolumeSize = resource.MustParse("10Gi")

// wellKnownChains gives chain ids to the chain names people use in values files.
var wellKnownChains = map[string]int64{
	"ethereum": 1, "mainnet": 1, "ethereum-mainnet": 1,
	"sepolia": 11155111, "ethereum-sepolia": 11155111,
	"holesky": 17000, "ethereum-holesky": 17000,
	"hoodi": 560048, "ethereum-hoodi": 560048,
	"base": 8453, "base-mainnet": 8453,
	"base-sepolia": 84532,
}

var ethAddress = regexp.MustCompile(`^0x[0-9a-fA-F]{40}$`)

// model is a validated declaration with its defaults filled in: everything rendering needs.
type model struct {
	decl              *fnv1alpha1.AVSExecutor
	id                string // namespace/name of the declaration
	namespace         string
	name              string // executor name
	replicas          int32
	grpcPort          int32
	mgmtPort          int32
	metrics           int32
	image             string
	l1                chain
	avss              []avsModel
	keys              keysModel
	volume            *volumeModel
	operatorNamespace string
	timeout           time.Duration
}

type chain struct {
	rpcURL  string
	chainID int64
}

type avsModel struct {
	spec       fnv1alpha1.SupportedAVS
	profiles   []string
	settings   profiles.Settings // combined, explicit settings on top, before hardware.Resolve
	repository string            // image without tag, for the executor config
	tag        string
	grpcPort   int32
}

type keysModel struct {
	secretName  string
	ecdsaKey    string
	blsKeystore string
	blsPassword string
	signing     []fnv1alpha1.SigningKeyType
	// inline is set when the keys were written in the declaration and allowed.
	inline *fnv1alpha1.InlineOperatorKeys
}

type volumeModel struct {
	size         resource.Quantity
	storageClass *string
}

// validate checks the declaration against itself and the profile set, reporting every problem,
// and returns the model when there is none.
func validate(d *fnv1alpha1.AVSExecutor, set map[string]profiles.Profile, broken map[string]bool, p *problems) *model {
	before := count(*p.results)
	s := &d.Spec
	m := &model{decl: d, namespace: d.Namespace}

	if d.Name == "" {
		p.errorf("metadata.name", "is required")
	}
	if d.Namespace == "" {
		p.errorf("metadata.namespace", "is required: the executor, its configuration and its Performers go to this namespace")
	} else if errs := validation.IsDNS1123Label(d.Namespace); len(errs) > 0 {
		p.errorf("metadata.namespace", "%q is no valid namespace name: %s", d.Namespace, strings.Join(errs, "; "))
	}
	m.id = d.Namespace + "/" + d.Name

	validateExecutor(m, p)

	if s.Aggregator != nil {
		f := "spec.aggregator.endpoint"
		if s.Aggregator.Endpoint == "" {
			p.errorf(f, "is required")
		} else if err := hostPort(s.Aggregator.Endpoint); err != nil {
			p.errorf(f, "%q is no host:port: %v", s.Aggregator.Endpoint, err)
		}
	}

	validateChains(m, p)
	validateAVSs(m, set, broken, p)
	validateOperator(m, p)

	if s.Persistence.Enabled {
		v := &volumeModel{size: DefaultVolumeSize.DeepCopy(), storageClass: s.Persistence.StorageClassName}
		if s.Persistence.Size != nil {
			v.size = s.Persistence.Size.DeepCopy()
			if v.size.Sign() <= 0 {
				p.errorf("spec.persistence.size", "must be more than 0, got %s", v.size.String())
			}
		}
		if sc := v.storageClass; sc != nil && *sc != "" {
			if errs := validation.IsDNS1123Subdomain(*sc); len(errs) > 0 {
				p.errorf("spec.persistence.storageClassName", "%q is no valid StorageClass name: %s", *sc, strings.Join(errs, "; "))
			}
		}
		m.volume = v
	}

	m.operatorNamespace, m.timeout = DefaultOperatorNamespace, DefaultConnectionTimeout
	if k := s.Kubernetes; k != nil {
		if k.OperatorNamespace != "" {
			m.operatorNamespace = k.OperatorNamespace
			if errs := validation.IsDNS1123Label(k.OperatorNamespace); len(errs) > 0 {
				p.errorf("spec.kubernetes.operatorNamespace", "%q is no valid namespace name: %s", k.OperatorNamespace, strings.Join(errs, "; "))
			}
		}
		if k.ConnectionTimeout != nil {
			m.timeout = k.ConnectionTimeout.Duration
			if m.timeout <= 0 {
				p.errorf("spec.kubernetes.connectionTimeout", "must be more than 0, got %s", m.timeout)
			}
		}
	}

	if count(*p.results) > before {
		return nil
	}
	return m
}

func validateExecutor(m *model, p *problems) {
	e := &m.decl.Spec.Executor
	m.name = e.Name
	if m.name == "" {
		m.name = m.decl.Name
	}
	if m.name != "" {
		f := "spec.executor.name"
		if e.Name == "" {
			f = "metadata.name"
		}
		if errs := validation.IsDNS1035Label(m.name); len(errs) > 0 {
			p.errorf(f, "%q cannot name the executor: it must be a DNS-1035 label (lower case letters, digits and '-', starting with a letter): %s", m.name, strings.Join(errs, "; "))
		} else if len(m.name) > maxExecutorName {
			p.errorf(f, "%q is %d characters long; the executor name must be at most %d so that its pod, revision and Service names fit", m.name, len(m.name), maxExecutorName)
		} else if m.name == "hourglass-performer" {
			p.errorf(f, "%q is the app label of performer pods; choose another executor name", m.name)
		}
	}

	m.replicas = 1
	if e.Replicas != nil {
		m.replicas = *e.Replicas
		if m.replicas < 0 {
			p.errorf("spec.executor.replicas", "must be 0 or more, got %d", m.replicas)
		}
	}

	if e.Image.Repository == "" {
		p.errorf("spec.executor.image.repository", "is required")
	} else if strings.ContainsAny(e.Image.Repository, " \t@") || hasTag(e.Image.Repository) {
		p.errorf("spec.executor.image.repository", "%q must be an image name without tag or digest (put the tag in image.tag)", e.Image.Repository)
	}
	if e.Image.Tag == "" {
		p.errorf("spec.executor.image.tag", "is required")
	}
	m.image = e.Image.Repository + ":" + e.Image.Tag
	pullPolicy(e.Image.PullPolicy, "spec.executor.image.pullPolicy", p)
	resources(e.Resources, "spec.executor.resources", p)

	m.grpcPort = DefaultExecutorGRPCPort
	if e.GRPCPort != 0 {
		m.grpcPort = e.GRPCPort
	}
	m.mgmtPort, m.metrics = e.ManagementPort, e.MetricsPort
	ports := map[int32]string{}
	for _, pt := range []struct {
		field string
		port  int32
	}{{"grpcPort", m.grpcPort}, {"managementPort", m.mgmtPort}, {"metricsPort", m.metrics}} {
		if pt.port == 0 {
			continue
		}
		f := "spec.executor." + pt.field
		if pt.port < 1 || pt.port > 65535 {
			p.errorf(f, "must be between 1 and 65535, got %d", pt.port)
		} else if other, dup := ports[pt.port]; dup {
			p.errorf(f, "port %d is already the %s", pt.port, other)
		}
		ports[pt.port] = pt.field
	}
	scheduling(e.Scheduling, "spec.executor.scheduling", p)
	pullSecrets(e.ImagePullSecrets, "spec.executor.imagePullSecrets", p)
	if pdb := e.PodDisruptionBudget; pdb != nil {
		if (pdb.MinAvailable == nil) == (pdb.MaxUnavailable == nil) {
			p.errorf("spec.executor.podDisruptionBudget", "set exactly one of minAvailable and maxUnavailable")
		}
	}
}

func validateChains(m *model, p *problems) {
	chains := m.decl.Spec.Chains
	if len(chains) == 0 {
		p.errorf("spec.chains", "is required: name at least the L1 chain with its rpcUrl")
		return
	}
	var enabled, marked []string
	for _, name := range sortedKeys(chains) {
		c := chains[name]
		f := key("spec.chains", name)
		if c.RPCURL == "" {
			p.errorf(join(f, "rpcUrl"), "is required")
		} else if u, err := url.Parse(c.RPCURL); err != nil || u.Host == "" ||
			(u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "ws" && u.Scheme != "wss") {
			p.errorf(join(f, "rpcUrl"), "%q is no http, https, ws or wss URL", c.RPCURL)
		}
		if c.ChainID < 0 {
			p.errorf(join(f, "chainId"), "must be more than 0, got %d", c.ChainID)
		}
		if c.TaskMailboxAddress != "" && !ethAddress.MatchString(c.TaskMailboxAddress) {
			p.errorf(join(f, "taskMailboxAddress"), "%q is no Ethereum address (0x and 40 hex digits)", c.TaskMailboxAddress)
		}
		if c.BlockConfirmations < 0 {
			p.errorf(join(f, "blockConfirmations"), "must be 0 or more, got %d", c.BlockConfirmations)
		}
		if c.Enabled == nil || *c.Enabled {
			enabled = append(enabled, name)
			if c.L1 {
				marked = append(marked, name)
			}
		} else if c.L1 {
			p.errorf(join(f, "l1"), "chain %q is the L1 but is not enabled", name)
		}
	}
	var l1 string
	switch {
	case len(enabled) == 0:
		p.errorf("spec.chains", "no chain is enabled; the executor needs its L1 chain")
		return
	case len(marked) == 1:
		l1 = marked[0]
	case len(marked) > 1:
		p.errorf("spec.chains", "chains %s are all marked l1; mark exactly one", strings.Join(marked, ", "))
		return
	case len(enabled) == 1:
		l1 = enabled[0]
	default:
		p.errorf("spec.chains", "chains %s are enabled; mark the executor's L1 chain with l1: true", strings.Join(enabled, ", "))
		return
	}
	c := chains[l1]
	m.l1 = chain{rpcURL: c.RPCURL, chainID: c.ChainID}
	if m.l1.chainID == 0 {
		id, ok := wellKnownChains[strings.ToLower(l1)]
		if !ok {
			p.errorf(join(key("spec.chains", l1), "chainId"), "is required: %q is no well-known chain name", l1)
		}
		m.l1.chainID = id
	}
}

func validateAVSs(m *model, set map[string]profiles.Profile, broken map[string]bool, p *problems) {
	list := m.decl.Spec.AVS.SupportedAVS
	if len(list) == 0 {
		p.errorf("spec.avs.supportedAvs", "is required: list at least one AVS")
		return
	}
	names, addrs := map[string]int{}, map[string]int{}
	for i, a := range list {
		f := fmt.Sprintf("spec.avs.supportedAvs[%d]", i)
		am := avsModel{spec: a, profiles: a.Profiles}

		if a.Address == "" {
			p.errorf(join(f, "address"), "is required")
		} else if !ethAddress.MatchString(a.Address) {
			p.errorf(join(f, "address"), "%q is no Ethereum address (0x and 40 hex digits)", a.Address)
		} else if j, dup := addrs[strings.ToLower(a.Address)]; dup {
			p.errorf(join(f, "address"), "%s is also the address of supportedAvs[%d]; each AVS is listed once", a.Address, j)
		} else {
			addrs[strings.ToLower(a.Address)] = i
		}

		switch {
		case a.Name == "":
			p.errorf(join(f, "name"), "is required")
		case len(validation.IsDNS1035Label(a.Name)) > 0:
			p.errorf(join(f, "name"), "%q cannot name a Performer: it must be a DNS-1035 label (lower case letters, digits and '-', starting with a letter)", a.Name)
		case len(a.Name) > maxAVSName:
			p.errorf(join(f, "name"), "%q is %d characters long; with the prefix of its Service %s it must fit a DNS label, so at most %d",
				a.Name, len(a.Name), v1alpha1.WorkloadName(a.Name), maxAVSName)
		default:
			if j, dup := names[a.Name]; dup {
				p.errorf(join(f, "name"), "%q is also the name of supportedAvs[%d]; AVS names must be unique", a.Name, j)
			}
			names[a.Name] = i
		}

		perf := a.Performer
		pf := join(f, "performer")
		am.repository, am.tag = imageName(perf.Image), imageTag(perf.Image)
		switch {
		case perf.Image == "":
			p.errorf(join(pf, "image"), "is required")
		case strings.ContainsAny(perf.Image, " \t"):
			p.errorf(join(pf, "image"), "%q is no image reference", perf.Image)
		case am.tag == "" && perf.Version == "":
			p.errorf(join(pf, "version"), "is required when the image %q has no tag: the executor configuration names performer images by tag", perf.Image)
		}
		if am.tag == "" {
			am.tag = perf.Version
		}
		pullPolicy(perf.ImagePullPolicy, join(pf, "imagePullPolicy"), p)
		am.grpcPort = v1alpha1.DefaultGRPCPort
		if perf.GRPCPort != 0 {
			am.grpcPort = perf.GRPCPort
			if perf.GRPCPort < 1 || perf.GRPCPort > 65535 {
				p.errorf(join(pf, "grpcPort"), "must be between 1 and 65535, got %d", perf.GRPCPort)
			}
		}
		env(perf.Env, join(pf, "env"), p)
		if sa := perf.ServiceAccountName; sa != "" {
			if errs := validation.IsDNS1123Subdomain(sa); len(errs) > 0 {
				p.errorf(join(pf, "serviceAccountName"), "%q is no valid ServiceAccount name: %s", sa, strings.Join(errs, "; "))
			}
		}
		pullSecrets(perf.ImagePullSecrets, join(pf, "imagePullSecrets"), p)
		scheduling(a.Scheduling, join(f, "scheduling"), p)
		hardwareFields(a.HardwareRequirements, join(f, "hardwareRequirements"), p)

		var chosen []profiles.Profile
		seen, skip := map[string]bool{}, false
		for j, name := range a.Profiles {
			pr, ok := set[name]
			switch {
			case broken[name]:
				skip = true // reported where the profile is defined
			case seen[name]:
				p.errorf(fmt.Sprintf("%s.profiles[%d]", f, j), "profile %q is listed twice", name)
			case !ok:
				p.errorf(fmt.Sprintf("%s.profiles[%d]", f, j), "unknown profile %q; known profiles: %s (custom profiles come from spec.customProfiles, "+
					"or from PerformerProfile resources in the input, which a kustomize generator does not see: run the function as a transformer for those)",
					name, strings.Join(profiles.Names(set), ", "))
			default:
				chosen = append(chosen, pr)
			}
			seen[name] = true
		}
		if skip {
			m.avss = append(m.avss, am)
			continue
		}
		combined, conflicts := profiles.Combine(chosen)
		for _, c := range conflicts {
			p.errorf(join(f, "profiles"), "%s: %s", c.Field, c.Message)
		}
		am.settings = profiles.Overlay(combined, profiles.Settings{
			HardwareRequirements: a.HardwareRequirements, Scheduling: a.Scheduling, Resources: a.Resources,
		})
		from := ""
		if len(a.Profiles) > 0 {
			from = fmt.Sprintf(" (with profiles %s)", strings.Join(a.Profiles, ", "))
		}
		for _, err := range hardware.Validate(f, am.settings.HardwareRequirements, am.settings.Scheduling) {
			field, detail := f, err.Error()
			if fe, ok := err.(*hardware.FieldError); ok {
				field, detail = fe.Field, fe.Detail
			}
			p.errorf(field, "%s%s", detail, from)
		}
		resourcesOrder(am.settings.Resources, join(f, "resources"), from, p)
		m.avss = append(m.avss, am)
	}
}

func validateOperator(m *model, p *problems) {
	o := &m.decl.Spec.Operator
	if o.Address == "" {
		p.errorf("spec.operator.address", "is required: the operator's Ethereum address")
	} else if !ethAddress.MatchString(o.Address) {
		p.errorf("spec.operator.address", "%q is no Ethereum address (0x and 40 hex digits)", o.Address)
	}

	var inline *fnv1alpha1.InlineOperatorKeys
	if sec := m.decl.Spec.Secrets; sec != nil && sec.OperatorKeys != nil && *sec.OperatorKeys != (fnv1alpha1.InlineOperatorKeys{}) {
		inline = sec.OperatorKeys
		if !sec.AllowInlineKeys {
			p.errorf("spec.secrets.operatorKeys", "operator keys must not be written in the declaration, where they would end up in Git and in the rendered output: "+
				"put them in a Secret in namespace %s (made with SOPS, Sealed Secrets or External Secrets) and name it in spec.operator.keys.secretName; "+
				"only for a throwaway test network, set spec.secrets.allowInlineKeys: true to render them into a plain Secret", m.namespace)
			return
		}
		if o.Keys != nil {
			p.errorf("spec.secrets.operatorKeys", "give the keys either inline or as spec.operator.keys, not both")
			return
		}
		p.warnf("spec.secrets.operatorKeys", "operator keys are rendered in plain text (base64) into Secret %s/%s because spec.secrets.allowInlineKeys is true; "+
			"anyone who can read the rendered output or the Git repository holding it can take over the operator", m.namespace, m.name+"-operator-keys")
		if inline.BLSPrivateKey != "" {
			p.errorf("spec.secrets.operatorKeys.blsPrivateKey", "the executor reads BLS keys only from a keystore: give blsKeystore (the keystore JSON) and blsPassword instead")
		}
		if inline.ECDSAPrivateKey == "" {
			p.errorf("spec.secrets.operatorKeys.ecdsaPrivateKey", "is required: the executor signs transactions with it")
		}
		if (inline.BLSKeystore == "") != (inline.BLSPassword == "") {
			p.errorf("spec.secrets.operatorKeys", "blsKeystore and blsPassword go together")
		}
		m.keys = keysModel{secretName: m.name + "-operator-keys", ecdsaKey: DefaultECDSAKey, inline: inline}
		if inline.BLSKeystore != "" {
			m.keys.blsKeystore, m.keys.blsPassword = "bls-keystore.json", "bls-password"
		}
	} else {
		k := o.Keys
		if k == nil {
			p.errorf("spec.operator.keys", "is required: name the existing Secret that holds the operator keys (secretName, and the keys ecdsaPrivateKey, blsKeystore, blsPassword in it)")
			return
		}
		m.keys = keysModel{secretName: k.SecretName, ecdsaKey: k.ECDSAPrivateKey, blsKeystore: k.BLSKeystore, blsPassword: k.BLSPassword}
		if m.keys.ecdsaKey == "" {
			m.keys.ecdsaKey = DefaultECDSAKey
		}
		if k.SecretName == "" {
			p.errorf("spec.operator.keys.secretName", "is required")
		} else if errs := validation.IsDNS1123Subdomain(k.SecretName); len(errs) > 0 {
			p.errorf("spec.operator.keys.secretName", "%q is no valid Secret name: %s", k.SecretName, strings.Join(errs, "; "))
		}
		for _, sk := range []struct{ field, key string }{
			{"ecdsaPrivateKey", m.keys.ecdsaKey}, {"blsKeystore", k.BLSKeystore}, {"blsPassword", k.BLSPassword},
		} {
			if sk.key == "" {
				continue
			}
			if errs := validation.IsConfigMapKey(sk.key); len(errs) > 0 {
				p.errorf("spec.operator.keys."+sk.field, "%q is no valid Secret key: %s", sk.key, strings.Join(errs, "; "))
			}
		}
		if (k.BLSKeystore == "") != (k.BLSPassword == "") {
			p.errorf("spec.operator.keys", "blsKeystore and blsPassword go together: the executor needs the password to open the keystore")
		}
	}

	seen := map[fnv1alpha1.SigningKeyType]bool{}
	for i, t := range o.SigningKeys {
		f := fmt.Sprintf("spec.operator.signingKeys[%d]", i)
		switch {
		case t != fnv1alpha1.SigningKeyBLS && t != fnv1alpha1.SigningKeyECDSA:
			p.errorf(f, "unknown signing key %q (one of bls, ecdsa)", t)
		case seen[t]:
			p.errorf(f, "%q is listed twice", t)
		case t == fnv1alpha1.SigningKeyBLS && m.keys.blsKeystore == "":
			p.errorf(f, "signing with bls needs a BLS keystore (blsKeystore and blsPassword)")
		}
		seen[t] = true
	}
	m.keys.signing = o.SigningKeys
	if len(m.keys.signing) == 0 {
		m.keys.signing = []fnv1alpha1.SigningKeyType{fnv1alpha1.SigningKeyECDSA}
		if m.keys.blsKeystore != "" {
			m.keys.signing = []fnv1alpha1.SigningKeyType{fnv1alpha1.SigningKeyBLS}
		}
	}
}

// validateProfile checks a custom profile's settings; f is the path of its spec.
func validateProfile(spec *fnv1alpha1.PerformerProfileSpec, f string, p *problems) {
	hardwareFields(spec.HardwareRequirements, join(f, "hardwareRequirements"), p)
	scheduling(spec.Scheduling, join(f, "scheduling"), p)
	resources(spec.Resources, join(f, "resources"), p)
	for _, err := range hardware.Validate(f, spec.HardwareRequirements, spec.Scheduling) {
		if fe, ok := err.(*hardware.FieldError); ok {
			p.errorf(fe.Field, "%s", fe.Detail)
		}
	}
}

func validateBottlerocket(params *fnv1alpha1.ProfileParameters, p *problems) {
	if params == nil || params.Bottlerocket == nil {
		return
	}
	br := profiles.BottlerocketParameters(params)
	f := "spec.profileParameters.bottlerocket"
	labels(map[string]string{br.NodeLabelKey: br.NodeLabelValue}, f, p)
	if br.TaintKey != "-" {
		if errs := validation.IsQualifiedName(br.TaintKey); len(errs) > 0 {
			p.errorf(join(f, "taintKey"), "%q is no valid taint key: %s", br.TaintKey, strings.Join(errs, "; "))
		}
		if errs := validation.IsValidLabelValue(br.TaintValue); len(errs) > 0 {
			p.errorf(join(f, "taintValue"), "%q is no valid taint value: %s", br.TaintValue, strings.Join(errs, "; "))
		}
	}
	switch br.TaintEffect {
	case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
	default:
		p.errorf(join(f, "taintEffect"), "unknown taint effect %q (one of NoSchedule, PreferNoSchedule, NoExecute)", br.TaintEffect)
	}
}

func pullPolicy(pp corev1.PullPolicy, f string, p *problems) {
	switch pp {
	case "", corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		p.errorf(f, "unknown pull policy %q (one of Always, IfNotPresent, Never)", pp)
	}
}

func pullSecrets(refs []corev1.LocalObjectReference, f string, p *problems) {
	for i, r := range refs {
		if r.Name == "" {
			p.errorf(fmt.Sprintf("%s[%d].name", f, i), "is required")
		}
	}
}

// resources checks that no request exceeds its limit.
func resources(r *corev1.ResourceRequirements, f string, p *problems) {
	resourcesOrder(r, f, "", p)
}

func resourcesOrder(r *corev1.ResourceRequirements, f, from string, p *problems) {
	if r == nil {
		return
	}
	for _, n := range sortedKeys(r.Requests) {
		req := r.Requests[corev1.ResourceName(n)]
		if lim, ok := r.Limits[corev1.ResourceName(n)]; ok && req.Cmp(lim) > 0 {
			p.errorf(key(join(f, "requests"), n), "request %s is more than the limit %s%s", req.String(), lim.String(), from)
		}
	}
}

func scheduling(s *v1alpha1.Scheduling, f string, p *problems) {
	if s == nil {
		return
	}
	labels(s.NodeSelector, join(f, "nodeSelector"), p)
	for i, t := range s.Tolerations {
		tf := fmt.Sprintf("%s.tolerations[%d]", f, i)
		switch t.Operator {
		case "", corev1.TolerationOpEqual:
		case corev1.TolerationOpExists:
			if t.Value != "" {
				p.errorf(join(tf, "value"), "must be empty when operator is Exists")
			}
		default:
			p.errorf(join(tf, "operator"), "unknown operator %q (Equal or Exists)", t.Operator)
		}
		switch t.Effect {
		case "", corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
		default:
			p.errorf(join(tf, "effect"), "unknown effect %q (NoSchedule, PreferNoSchedule or NoExecute)", t.Effect)
		}
		if t.Key == "" && t.Operator != corev1.TolerationOpExists {
			p.errorf(join(tf, "key"), "is required unless operator is Exists")
		}
	}
	if rc := s.RuntimeClass; rc != nil {
		if errs := validation.IsDNS1123Subdomain(*rc); len(errs) > 0 {
			p.errorf(join(f, "runtimeClass"), "%q is no valid RuntimeClass name: %s", *rc, strings.Join(errs, "; "))
		}
	}
}

func hardwareFields(hw *v1alpha1.HardwareRequirements, f string, p *problems) {
	if hw == nil {
		return
	}
	labels(hw.CustomLabels, join(f, "customLabels"), p)
}

// labels checks node label names and values.
func labels(m map[string]string, f string, p *problems) {
	for _, k := range sortedKeys(m) {
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			p.errorf(key(f, k), "%q is no valid label name: %s", k, strings.Join(errs, "; "))
		}
		if errs := validation.IsValidLabelValue(m[k]); len(errs) > 0 {
			p.errorf(key(f, k), "%q is no valid label value: %s", m[k], strings.Join(errs, "; "))
		}
	}
}

// env checks performer environment variables: the executor forwards plain values and values from
// Secret or ConfigMap keys, nothing else.
func env(vars []corev1.EnvVar, f string, p *problems) {
	seen := map[string]int{}
	for i, e := range vars {
		ef := fmt.Sprintf("%s[%d]", f, i)
		if e.Name == "" {
			p.errorf(join(ef, "name"), "is required")
		} else if errs := validation.IsEnvVarName(e.Name); len(errs) > 0 {
			p.errorf(join(ef, "name"), "%q is no valid environment variable name: %s", e.Name, strings.Join(errs, "; "))
		} else if j, dup := seen[e.Name]; dup {
			p.errorf(join(ef, "name"), "%q is also set by env[%d]", e.Name, j)
		} else {
			seen[e.Name] = i
		}
		vf := e.ValueFrom
		if vf == nil {
			continue
		}
		if e.Value != "" {
			p.errorf(ef, "set either value or valueFrom, not both")
		}
		switch {
		case vf.FieldRef != nil || vf.ResourceFieldRef != nil || vf.FileKeyRef != nil:
			p.errorf(join(ef, "valueFrom"), "the executor passes performers only values from secretKeyRef or configMapKeyRef")
		case vf.SecretKeyRef != nil && vf.ConfigMapKeyRef != nil:
			p.errorf(join(ef, "valueFrom"), "set either secretKeyRef or configMapKeyRef, not both")
		case vf.SecretKeyRef != nil:
			keyRef(vf.SecretKeyRef.Name, vf.SecretKeyRef.Key, join(ef, "valueFrom.secretKeyRef"), p)
		case vf.ConfigMapKeyRef != nil:
			keyRef(vf.ConfigMapKeyRef.Name, vf.ConfigMapKeyRef.Key, join(ef, "valueFrom.configMapKeyRef"), p)
		default:
			p.errorf(join(ef, "valueFrom"), "set secretKeyRef or configMapKeyRef")
		}
	}
}

func keyRef(name, key, f string, p *problems) {
	if name == "" {
		p.errorf(join(f, "name"), "is required")
	}
	if key == "" {
		p.errorf(join(f, "key"), "is required")
	}
}

func hostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return err
	}
	if host == "" {
		return fmt.Errorf("the host is missing")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q is not between 1 and 65535", port)
	}
	return nil
}

// imageName is an image reference without its tag and digest.
func imageName(image string) string {
	if i := strings.Index(image, "@"); i >= 0 {
		image = image[:i]
	}
	slash := strings.LastIndex(image, "/")
	if i := strings.LastIndex(image, ":"); i > slash {
		return image[:i]
	}
	return image
}

// imageTag is the tag of an image reference, empty when it has none. A colon before the last
// slash belongs to a registry's host:port.
func imageTag(image string) string {
	if i := strings.Index(image, "@"); i >= 0 {
		image = image[:i]
	}
	slash := strings.LastIndex(image, "/")
	if i := strings.LastIndex(image, ":"); i > slash {
		return image[i+1:]
	}
	return ""
}

func hasTag(image string) bool { return imageTag(image) != "" }
