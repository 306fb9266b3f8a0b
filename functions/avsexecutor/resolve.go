package avsexecutor

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	fnv1alpha1 "github.com/hourglass-gitops/hourglass-gitops/api/fn/v1alpha1"
	"github.com/hourglass-gitops/hourglass-gitops/api/hardware"
	"github.com/hourglass-gitops/hourglass-gitops/api/imageref"
	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
	"github.com/hourglass-gitops/hourglass-gitops/functions/profiles"
	"github.com/hourglass-gitops/hourglass-gitops/functions/redact"
	"github.com/hourglass-gitops/hourglass-gitops/functions/strictyaml"
)

const localConfigAnnotation = "config.kubernetes.io/local-config"

// resolve checks the declaration against itself and its profiles and builds the model: defaults
// filled in, each AVS's profiles combined, its own settings put over them and the hardware mapping
// applied, once. The model is complete only when the report has no errors.
func resolve(in input) (*model, *report) {
	rep := &report{}
	set, broken := profileSet(in, rep)
	f := rep.about(in.declNode)
	d := in.decl
	s := &d.Spec
	m := &model{decl: d, namespace: d.Namespace, id: d.Namespace + "/" + d.Name}

	// metadata.name is checked even when spec.executor.name names the objects: it is part of the
	// annotation every rendered object carries.
	if np := field.NewPath("metadata", "name"); d.Name == "" {
		f.errs = append(f.errs, field.Required(np, "is required"))
	} else if msgs := validation.IsDNS1123Subdomain(d.Name); len(msgs) > 0 {
		f.errs = append(f.errs, invalid(np, d.Name, fmt.Sprintf("%s is no valid Kubernetes object name: %s", redact.String(d.Name), strings.Join(msgs, "; "))))
	}
	ns := field.NewPath("metadata", "namespace")
	if d.Namespace == "" {
		f.errs = append(f.errs, field.Required(ns, "is required: the executor, its configuration and its Performers go to this namespace"))
	} else if errs := validation.IsDNS1123Label(d.Namespace); len(errs) > 0 {
		f.errs = append(f.errs, invalid(ns, d.Namespace, fmt.Sprintf("%s is no valid namespace name: %s", redact.String(d.Namespace), strings.Join(errs, "; "))))
	} else if strings.HasPrefix(d.Namespace, "kube-") {
		f.errs = append(f.errs, field.Forbidden(ns, fmt.Sprintf("%s is a namespace of Kubernetes' own components (the kube- prefix is reserved): "+
			"give the executor a namespace of its own", d.Namespace)))
	}

	f.errs = append(f.errs, resolveExecutor(m)...)
	if s.Aggregator != nil {
		p := field.NewPath("spec", "aggregator", "endpoint")
		if s.Aggregator.Endpoint == "" {
			f.errs = append(f.errs, field.Required(p, "is required"))
		} else if err := checkHostPort(s.Aggregator.Endpoint); err != nil {
			f.errs = append(f.errs, secretInvalid(p, s.Aggregator.Endpoint, fmt.Sprintf("the endpoint is no host:port: %v", err)))
		}
	}
	errs, warns := resolveL1(m)
	f.errs, f.warns = append(f.errs, errs...), append(f.warns, warns...)
	errs, warns = resolveAVSs(m, set, broken)
	f.errs, f.warns = append(f.errs, errs...), append(f.warns, warns...)
	errs, warns = resolveConnection(m)
	f.errs, f.warns = append(f.errs, errs...), append(f.warns, warns...)
	errs, warns = resolveKeys(m)
	f.errs, f.warns = append(f.errs, errs...), append(f.warns, warns...)
	f.errs = append(f.errs, resolveStorage(m)...)
	f.errs = append(f.errs, resolveKubernetes(m)...)
	f.errs = append(f.errs, resolveBounds(m)...)
	f.errs = append(f.errs, checkKeyMaterial(in.declNode, f.errs)...)
	if s.CreateNamespace && d.Namespace != "" {
		if why, reserved := reservedNamespace(d.Namespace, m.operatorNamespace); reserved {
			f.errs = append(f.errs, field.Forbidden(field.NewPath("spec", "createNamespace"), fmt.Sprintf(
				"would render Namespace %s, %s; the GitOps engine would then own it, label it and, when it prunes, delete it: "+
					"give the executor a namespace of its own, or set createNamespace: false", d.Namespace, why)))
		}
	}
	return m, rep
}

// resolveExecutor resolves the executor itself: its name, replicas, image, resources and ports.
func resolveExecutor(m *model) field.ErrorList {
	var errs field.ErrorList
	e := &m.decl.Spec.Executor
	p := field.NewPath("spec", "executor")
	m.name = e.Name
	if m.name == "" {
		m.name = m.decl.Name
	}
	if m.name != "" {
		np := p.Child("name")
		if e.Name == "" {
			np = field.NewPath("metadata", "name")
		}
		if msgs := validation.IsDNS1035Label(m.name); len(msgs) > 0 {
			errs = append(errs, invalid(np, m.name, fmt.Sprintf("%s cannot name the executor: it must be a DNS-1035 label (lower case letters, digits and '-', starting with a letter): %s", redact.String(m.name), strings.Join(msgs, "; "))))
		} else if len(m.name) > maxExecutorName {
			errs = append(errs, invalid(np, m.name, fmt.Sprintf("%s is too long: the executor name must be at most %d characters so that its pod, revision and Service names fit", redact.String(m.name), maxExecutorName)))
		} else if m.name == "hourglass-performer" {
			errs = append(errs, invalid(np, m.name, fmt.Sprintf("%q is the app label of performer pods; choose another executor name", m.name)))
		} else if prefix := v1alpha1.WorkloadName(""); strings.HasPrefix(m.name, prefix) {
			errs = append(errs, invalid(np, m.name, fmt.Sprintf("%q begins with %q, the prefix of the Services the Performer controller makes for Performers: "+
				"the executor's Service %s would be the Service of a Performer named %q; choose another executor name", m.name, prefix, m.name, strings.TrimPrefix(m.name, prefix))))
		}
	}

	m.replicas = 1
	if e.Replicas != nil {
		m.replicas = *e.Replicas
	}
	m.image, errs = resolveImage(e.Image, p.Child("image"), DefaultExecutorRepository, DefaultExecutorTag, errs)
	errs = append(errs, checkResourceOrder(e.Resources, p.Child("resources"), "")...)

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
		if other, dup := ports[pt.port]; dup {
			errs = append(errs, duplicate(p.Child(pt.field), pt.port, fmt.Sprintf("port %d is already the %s", pt.port, other)))
		}
		ports[pt.port] = pt.field
	}
	errs = append(errs, checkScheduling(e.Scheduling, p.Child("scheduling"))...)
	errs = append(errs, checkPullSecrets(e.ImagePullSecrets, p.Child("imagePullSecrets"))...)
	if pdb := e.PodDisruptionBudget; pdb != nil {
		pp := p.Child("podDisruptionBudget")
		if (pdb.MinAvailable == nil) == (pdb.MaxUnavailable == nil) {
			errs = append(errs, field.Invalid(pp, nil, "set exactly one of minAvailable and maxUnavailable"))
		}
		errs = append(errs, checkIntOrPercent(pdb.MinAvailable, pp.Child("minAvailable"))...)
		errs = append(errs, checkIntOrPercent(pdb.MaxUnavailable, pp.Child("maxUnavailable"))...)
	}
	return errs
}

// resolveL1 finds the executor's L1 chain among the declared chains.
func resolveL1(m *model) (errs, warns field.ErrorList) {
	chains := m.decl.Spec.Chains
	p := field.NewPath("spec", "chains")
	if len(chains) == 0 {
		return field.ErrorList{field.Required(p, "is required: name at least the L1 chain with its rpcUrl")}, nil
	}
	var enabled, marked []string
	for _, name := range slices.Sorted(maps.Keys(chains)) {
		c := chains[name]
		cp := strictyaml.KeyPath(p, name)
		chainErrs, chainWarns := checkChain(c, cp)
		errs, warns = append(errs, chainErrs...), append(warns, chainWarns...)
		if c.Enabled == nil || *c.Enabled {
			enabled = append(enabled, name)
			if c.L1 {
				marked = append(marked, name)
			}
		} else if c.L1 {
			errs = append(errs, field.Invalid(cp.Child("l1"), true, fmt.Sprintf("chain %s is the L1 but is not enabled", redact.String(name))))
		}
	}
	l1, err := pickL1(enabled, marked, p)
	if err != nil {
		return append(errs, err), warns
	}
	return append(errs, resolveL1Chain(m, l1, chains[l1], p)...), warns
}

// checkChain checks one declared chain: where its RPC URL comes from, and its TaskMailbox.
func checkChain(c fnv1alpha1.ChainSpec, cp *field.Path) (errs, warns field.ErrorList) {
	switch {
	case c.RPCURL == "" && c.RPCURLFrom == nil:
		errs = append(errs, field.Required(cp.Child("rpcUrl"), "is required: give rpcUrl, or rpcUrlFrom.secretKeyRef for a URL that carries an API key"))
	case c.RPCURL != "" && c.RPCURLFrom != nil:
		errs = append(errs, field.Invalid(cp, nil, "give either rpcUrl or rpcUrlFrom, not both"))
	case c.RPCURLFrom != nil:
		ref := c.RPCURLFrom.SecretKeyRef
		errs = append(errs, checkKeyRef(ref.Name, ref.Key, cp.Child("rpcUrlFrom", "secretKeyRef"))...)
	default:
		errs = append(errs, checkURL(c.RPCURL, cp.Child("rpcUrl"))...)
		if looksLikeCredentialURL(c.RPCURL) {
			warns = append(warns, field.Invalid(cp.Child("rpcUrl"), nil, "the URL seems to carry credentials (user info, a key parameter or a long token in its path), "+
				"which would end up in Git and in the rendered ConfigMap: put the URL in a Secret and name it in rpcUrlFrom.secretKeyRef"))
		}
	}
	errs = append(errs, checkAddress(c.TaskMailboxAddress, cp.Child("taskMailboxAddress"))...)
	return errs, warns
}

// pickL1 names the L1 chain: the one enabled chain marked l1, or the only one enabled.
func pickL1(enabled, marked []string, p *field.Path) (string, *field.Error) {
	switch {
	case len(enabled) == 0:
		return "", field.Invalid(p, nil, "no chain is enabled; the executor needs its L1 chain")
	case len(marked) == 1:
		return marked[0], nil
	case len(marked) > 1:
		return "", field.Invalid(p, nil, fmt.Sprintf("chains %s are all marked l1; mark exactly one", capList(redactAll(marked), 20)))
	case len(enabled) == 1:
		return enabled[0], nil
	}
	return "", field.Invalid(p, nil, fmt.Sprintf("chains %s are enabled; mark the executor's L1 chain with l1: true", capList(redactAll(enabled), 20)))
}

// resolveL1Chain sets the L1 chain's RPC URL and chain ID, a well-known name standing for its ID,
// and checks that the released executor serves it.
func resolveL1Chain(m *model, l1 string, c fnv1alpha1.ChainSpec, p *field.Path) (errs field.ErrorList) {
	m.l1 = chain{rpcURL: c.RPCURL, chainID: c.ChainID}
	if c.RPCURLFrom != nil {
		m.l1.rpcURLSecret = c.RPCURLFrom.SecretKeyRef.DeepCopy()
	}
	idPath := strictyaml.KeyPath(p, l1).Child("chainId")
	if m.l1.chainID == 0 {
		id, ok := wellKnownChains[strings.ToLower(l1)]
		if !ok {
			return field.ErrorList{field.Required(idPath, fmt.Sprintf("is required: %s is no well-known chain name", redact.String(l1)))}
		}
		m.l1.chainID = id
		idPath = strictyaml.KeyPath(p, l1)
	}
	if _, ok := releasedL1Chains[m.l1.chainID]; !ok && !m.decl.Spec.Executor.AllowUnlistedChains {
		errs = append(errs, &field.Error{Type: field.ErrorTypeNotSupported, Field: idPath.String(), BadValue: m.l1.chainID, Detail: fmt.Sprintf("the released executor has no TaskMailbox contract for L1 chain %d and stops with \"task mailbox contract not found\"; "+
			"it supports %s. For an executor image that knows this chain, set spec.executor.allowUnlistedChains: true", m.l1.chainID, supportedChains())})
	}
	return errs
}

// supportedChains lists the released executor's L1 chains for messages.
func supportedChains() string {
	ids := slices.Sorted(maps.Keys(releasedL1Chains))
	list := make([]string, len(ids))
	for i, id := range ids {
		list[i] = fmt.Sprintf("%d (%s)", id, releasedL1Chains[id])
	}
	return strings.Join(list, ", ")
}

// resolveImage fills an image's defaults: without a repository, the default image (a tag alone
// picks another release of it); with a repository, its tag is required.
func resolveImage(img fnv1alpha1.ImageSpec, p *field.Path, repository, tag string, errs field.ErrorList) (string, field.ErrorList) {
	if img.Tag != "" {
		if err := checkImageTag(img.Tag); err != nil {
			errs = append(errs, invalid(p.Child("tag"), img.Tag, err.Error()))
		}
	}
	if img.Repository == "" {
		if img.Tag != "" {
			tag = img.Tag
		}
		return repository + ":" + tag, errs
	}
	if imageref.Split(img.Repository).Pinned() {
		errs = append(errs, invalid(p.Child("repository"), img.Repository,
			fmt.Sprintf("%s must be an image name without tag or digest (put the tag in image.tag)", redact.String(img.Repository))))
	} else if err := checkImageName(img.Repository); err != nil {
		errs = append(errs, invalid(p.Child("repository"), img.Repository, fmt.Sprintf("%s is no image repository: %v", redact.String(img.Repository), err)))
	}
	if img.Tag == "" {
		errs = append(errs, field.Required(p.Child("tag"), "is required"))
	}
	return img.Repository + ":" + img.Tag, errs
}

// resolveAVSs resolves every listed AVS, and checks that their names and addresses are valid
// and unique.
func resolveAVSs(m *model, set map[string]profiles.Profile, broken map[string]bool) (errs, warns field.ErrorList) {
	list := m.decl.Spec.AVS.SupportedAVS
	lp := field.NewPath("spec", "avs", "supportedAvs")
	if len(list) == 0 {
		return field.ErrorList{field.Required(lp, "is required: list at least one AVS")}, nil
	}
	names, addrs := map[string]int{}, map[string]int{}
	for i, a := range list {
		p := lp.Index(i)
		if a.Address != "" {
			errs = append(errs, checkAddress(a.Address, p.Child("address"))...)
			if j, dup := addrs[strings.ToLower(a.Address)]; dup {
				errs = append(errs, duplicate(p.Child("address"), a.Address, fmt.Sprintf("%s is also the address of supportedAvs[%d]; each AVS is listed once", a.Address, j)))
			} else {
				addrs[strings.ToLower(a.Address)] = i
			}
		}
		np := p.Child("name")
		switch {
		case a.Name == "":
			errs = append(errs, field.Required(np, "is required"))
		case len(validation.IsDNS1035Label(a.Name)) > 0:
			errs = append(errs, invalid(np, a.Name, fmt.Sprintf("%s cannot name a Performer: it must be a DNS-1035 label (lower case letters, digits and '-', starting with a letter)", redact.String(a.Name))))
		case len(a.Name) > maxAVSName:
			errs = append(errs, invalid(np, a.Name, fmt.Sprintf("%s is too long: with the prefix of its Service, %s, it must fit a DNS label, so at most %d characters",
				redact.String(a.Name), v1alpha1.WorkloadName(""), maxAVSName)))
		default:
			if j, dup := names[a.Name]; dup {
				errs = append(errs, duplicate(np, a.Name, fmt.Sprintf("%q is also the name of supportedAvs[%d]; AVS names must be unique", a.Name, j)))
			}
			names[a.Name] = i
		}
		am, avsErrs, avsWarns := resolveAVS(a, p, set, broken)
		errs, warns = append(errs, avsErrs...), append(warns, avsWarns...)
		m.avss = append(m.avss, am)
	}
	return errs, warns
}

// resolveAVS resolves one AVS: its performer image and port, and its settings from profiles, its
// own settings and the hardware mapping.
func resolveAVS(a fnv1alpha1.SupportedAVS, p *field.Path, set map[string]profiles.Profile, broken map[string]bool) (am avsModel, errs, warns field.ErrorList) {
	am = avsModel{spec: a, profiles: a.Profiles}
	perf := a.Performer
	pp := p.Child("performer")
	errs = resolvePerformerImage(&am, perf, pp)
	am.grpcPort = v1alpha1.DefaultGRPCPort
	if perf.GRPCPort != 0 {
		am.grpcPort = perf.GRPCPort
	}
	perfErrs, perfWarns := checkPerformer(perf, pp)
	errs, warns = append(errs, perfErrs...), append(warns, perfWarns...)
	errs = append(errs, checkScheduling(a.Scheduling, p.Child("scheduling"))...)
	errs = append(errs, checkHardwareFields(a.HardwareRequirements, p.Child("hardwareRequirements"))...)

	chosen, profileErrs, ok := chooseProfiles(a.Profiles, p.Child("profiles"), set, broken)
	errs = append(errs, profileErrs...)
	if !ok {
		return am, errs, warns
	}
	settingErrs, settingWarns := resolveSettings(&am, a, p, chosen)
	return am, append(errs, settingErrs...), append(warns, settingWarns...)
}

// resolvePerformerImage checks the performer's image and version and sets the image the
// Performer runs and the repository and tag the executor asks for.
func resolvePerformerImage(am *avsModel, perf fnv1alpha1.AVSPerformer, pp *field.Path) (errs field.ErrorList) {
	ref := imageref.Split(perf.Image)
	if perf.Version != "" {
		if err := checkImageTag(perf.Version); err != nil {
			errs = append(errs, invalid(pp.Child("version"), perf.Version, err.Error()+": the version is the image tag when the image has none"))
		}
	}
	switch {
	case perf.Image == "":
	case checkImage(perf.Image) != nil:
		errs = append(errs, invalid(pp.Child("image"), perf.Image, fmt.Sprintf("%s is no image reference: %v", redact.String(perf.Image), checkImage(perf.Image))))
	case ref.Tag == "" && perf.Version == "":
		errs = append(errs, field.Required(pp.Child("version"), fmt.Sprintf("is required when the image %s has no tag: the executor configuration names performer images by tag", redact.String(perf.Image))))
	}
	// The executor asks for repository:tag; a digest rides along in the tag, and a version
	// stands in for a missing tag, so that both name exactly the image the Performer runs.
	am.image, am.repository, am.tag = perf.Image, ref.Name, ref.Tag
	if am.tag == "" {
		am.tag = perf.Version
		if ref.Digest != "" && perf.Version != "" {
			am.image = ref.Name + ":" + perf.Version + "@" + ref.Digest
		}
	}
	if ref.Digest != "" {
		am.tag += "@" + ref.Digest
	}
	return errs
}

// checkPerformer checks the performer's environment, ServiceAccount and pull secrets, and warns
// of environment values that look like private keys.
func checkPerformer(perf fnv1alpha1.AVSPerformer, pp *field.Path) (errs, warns field.ErrorList) {
	errs = append(errs, checkEnv(perf.Env, pp.Child("env"))...)
	for i, e := range perf.Env {
		if e.ValueFrom == nil && looksLikeKeyMaterial(e.Value) {
			warns = append(warns, field.Invalid(pp.Child("env").Index(i).Child("value"), nil, fmt.Sprintf(
				"the value of %s looks like a private key, which would end up in Git, the executor configuration and the Performer: "+
					"put it in a Secret and use valueFrom.secretKeyRef", envName(e.Name))))
		}
	}
	if sa := perf.ServiceAccountName; sa != "" {
		if msgs := validation.IsDNS1123Subdomain(sa); len(msgs) > 0 {
			errs = append(errs, invalid(pp.Child("serviceAccountName"), sa, fmt.Sprintf("%s is no valid ServiceAccount name: %s", redact.String(sa), strings.Join(msgs, "; "))))
		}
	}
	errs = append(errs, checkPullSecrets(perf.ImagePullSecrets, pp.Child("imagePullSecrets"))...)
	return errs, warns
}

// chooseProfiles looks up the profiles an AVS lists. ok is false when one of them is broken
// (reported where it is defined): the AVS's settings are then not resolved.
func chooseProfiles(names []string, p *field.Path, set map[string]profiles.Profile, broken map[string]bool) (chosen []profiles.Profile, errs field.ErrorList, ok bool) {
	seen, skip := map[string]bool{}, false
	for j, name := range names {
		pr, known := set[name]
		switch {
		case broken[name]:
			skip = true
		case seen[name]:
			errs = append(errs, duplicate(p.Index(j), name, fmt.Sprintf("profile %s is listed twice", redact.String(name))))
		case !known:
			errs = append(errs, invalid(p.Index(j), name, fmt.Sprintf("unknown profile %s; known profiles: %s (custom profiles come from spec.customProfiles, "+
				"or from PerformerProfile resources in the input, which a kustomize generator does not see: run the function as a transformer for those)",
				redact.String(name), capList(profiles.Names(set), 20))))
		default:
			chosen = append(chosen, pr)
		}
		seen[name] = true
	}
	return chosen, errs, !skip
}

// resolveSettings combines the chosen profiles under the AVS's own settings, checks the result
// and applies the hardware mapping once: rendering writes the result out in full.
func resolveSettings(am *avsModel, a fnv1alpha1.SupportedAVS, p *field.Path, chosen []profiles.Profile) (errs, warns field.ErrorList) {
	combined, conflicts := profiles.Combine(chosen)
	for _, c := range conflicts {
		errs = append(errs, field.Invalid(p.Child("profiles"), c.BadValue, c.Field+": "+c.Detail))
	}
	settings := profiles.Overlay(combined, profiles.Settings{
		HardwareRequirements: a.HardwareRequirements, Scheduling: a.Scheduling, Resources: a.Resources,
	})
	from := ""
	if len(chosen) > 0 {
		names := make([]string, len(chosen))
		for i, pr := range chosen {
			names[i] = pr.Name // known names only: an unknown one may be anything
		}
		from = fmt.Sprintf(" (with profiles %s)", strings.Join(names, ", "))
	}
	for _, e := range scrubbed(hardware.Validate(p, settings.HardwareRequirements, settings.Scheduling)) {
		e.Detail += from
		errs = append(errs, e)
	}
	errs = append(errs, checkResourceOrder(settings.Resources, p.Child("resources"), from)...)
	if hw := settings.HardwareRequirements; hw != nil && hw.TEEType == v1alpha1.TEETypeSGX && (hw.GPUCount > 0 || hw.GPUType != "") {
		warns = append(warns, field.Invalid(p.Child("hardwareRequirements"), nil, "an SGX enclave cannot use a GPU: the GPU is given to the pod, "+
			"but only code outside the enclave can reach it, so whatever the performer computes on it is not protected by SGX"+from+
			"; for confidential GPU work use tee-sev-snp or tee-tdx with a GPU"))
	}
	am.hardware = settings.HardwareRequirements
	resolved := hardware.Resolve(settings.HardwareRequirements, settings.Scheduling, settings.Resources)
	if !reflect.DeepEqual(resolved.Scheduling, v1alpha1.Scheduling{}) {
		am.scheduling = &resolved.Scheduling
	}
	if r := resolved.Resources; len(r.Requests) > 0 || len(r.Limits) > 0 || len(r.Claims) > 0 {
		am.resources = &resolved.Resources
	}
	return errs, warns
}

// resolveKeys finds the operator keys: a Secret the declaration names, or keys written in the
// declaration when that is explicitly allowed (with a warning).
func resolveKeys(m *model) (errs, warns field.ErrorList) {
	o := &m.decl.Spec.Operator
	op := field.NewPath("spec", "operator")
	if o.Address == "" {
		errs = append(errs, field.Required(op.Child("address"), "is required: the operator's Ethereum address"))
	}
	errs = append(errs, checkAddress(o.Address, op.Child("address"))...)

	var keyErrs, keyWarns field.ErrorList
	var ok bool
	if sec := m.decl.Spec.Secrets; sec != nil && sec.OperatorKeys != nil && *sec.OperatorKeys != (fnv1alpha1.InlineOperatorKeys{}) {
		keyErrs, keyWarns, ok = resolveInlineKeys(m, sec)
	} else {
		keyErrs, ok = resolveKeySecret(m, op.Child("keys"))
	}
	errs, warns = append(errs, keyErrs...), append(warns, keyWarns...)
	if !ok {
		return errs, warns
	}
	return append(errs, resolveSigningKeys(m, op.Child("signingKeys"))...), warns
}

// resolveInlineKeys takes keys written in the declaration, where that is allowed. ok is false
// where the keys cannot be used at all.
func resolveInlineKeys(m *model, sec *fnv1alpha1.SecretsSpec) (errs, warns field.ErrorList, ok bool) {
	ip := field.NewPath("spec", "secrets", "operatorKeys")
	inline := sec.OperatorKeys
	if !sec.AllowInlineKeys {
		return field.ErrorList{field.Forbidden(ip, "operator keys must not be written in the declaration, where they would end up in Git and in the rendered output: "+
			"put them in a Secret in namespace "+m.namespace+" (made with SOPS, Sealed Secrets or External Secrets) and name it in spec.operator.keys.secretName; "+
			"only for a throwaway test network, set spec.secrets.allowInlineKeys: true to render them into a plain Secret")}, nil, false
	}
	if m.decl.Spec.Operator.Keys != nil {
		return field.ErrorList{field.Invalid(ip, nil, "give the keys either inline or as spec.operator.keys, not both")}, nil, false
	}
	warns = append(warns, field.Invalid(ip, nil, fmt.Sprintf("operator keys are rendered in plain text (base64) into Secret %s/%s because spec.secrets.allowInlineKeys is true; "+
		"anyone who can read the rendered output or the Git repository holding it can take over the operator", m.namespace, m.name+"-operator-keys")))
	if inline.BLSPrivateKey != "" {
		errs = append(errs, field.Forbidden(ip.Child("blsPrivateKey"), "the executor reads BLS keys only from a keystore: give blsKeystore (the keystore JSON) and blsPassword instead"))
	}
	if inline.ECDSAPrivateKey == "" {
		errs = append(errs, field.Required(ip.Child("ecdsaPrivateKey"), "is required: the executor signs transactions with it"))
	}
	if (inline.BLSKeystore == "") != (inline.BLSPassword == "") {
		errs = append(errs, field.Invalid(ip, nil, "blsKeystore and blsPassword go together"))
	}
	m.keys = keysModel{secretName: m.name + "-operator-keys", ecdsaKey: DefaultECDSAKey, inline: inline}
	if inline.BLSKeystore != "" {
		m.keys.blsKeystore, m.keys.blsPassword = "bls-keystore.json", "bls-password"
	}
	return errs, warns, true
}

// resolveKeySecret takes the Secret that spec.operator.keys names and the keys in it. ok is false
// where none is named.
func resolveKeySecret(m *model, kp *field.Path) (errs field.ErrorList, ok bool) {
	k := m.decl.Spec.Operator.Keys
	if k == nil {
		return field.ErrorList{field.Required(kp, "is required: name the existing Secret that holds the operator keys (secretName, and the keys ecdsaPrivateKey, blsKeystore, blsPassword in it)")}, false
	}
	m.keys = keysModel{secretName: k.SecretName, ecdsaKey: k.ECDSAPrivateKey, blsKeystore: k.BLSKeystore, blsPassword: k.BLSPassword}
	if m.keys.ecdsaKey == "" {
		m.keys.ecdsaKey = DefaultECDSAKey
	}
	if looksLikeKeyMaterial(k.SecretName) || redact.LooksSecret(k.SecretName) {
		errs = append(errs, secretInvalid(kp.Child("secretName"), k.SecretName, fmt.Sprintf("names the Secret that holds the operator keys, but %s looks like key material or a credential itself: "+
			"put the keys in a Secret (made with SOPS, Sealed Secrets or External Secrets) and give its name here", redact.Secret(k.SecretName))))
	} else if k.SecretName != "" {
		if msgs := validation.IsDNS1123Subdomain(k.SecretName); len(msgs) > 0 {
			errs = append(errs, secretInvalid(kp.Child("secretName"), k.SecretName, fmt.Sprintf("%s is no valid Secret name: %s", redact.Secret(k.SecretName), strings.Join(msgs, "; "))))
		}
	}
	for _, sk := range []struct{ field, key, holds string }{
		{"ecdsaPrivateKey", m.keys.ecdsaKey, "the ECDSA private key"}, {"blsKeystore", k.BLSKeystore, "the BLS keystore"}, {"blsPassword", k.BLSPassword, "the BLS keystore password"},
	} {
		if sk.key != "" {
			errs = append(errs, checkSecretKeyName(kp.Child(sk.field), sk.key, sk.holds, k.SecretName)...)
		}
	}
	if (k.BLSKeystore == "") != (k.BLSPassword == "") {
		errs = append(errs, field.Invalid(kp, nil, "blsKeystore and blsPassword go together: the executor needs the password to open the keystore"))
	}
	return errs, true
}

// resolveSigningKeys checks the keys the executor signs with; without any named, it signs with
// BLS where it has a keystore, else with ECDSA.
func resolveSigningKeys(m *model, sp *field.Path) (errs field.ErrorList) {
	seen := map[fnv1alpha1.SigningKeyType]bool{}
	for i, t := range m.decl.Spec.Operator.SigningKeys {
		p := sp.Index(i)
		switch {
		case seen[t]:
			errs = append(errs, duplicate(p, t, fmt.Sprintf("%s is listed twice", redact.String(string(t)))))
		case t == fnv1alpha1.SigningKeyBLS && m.keys.blsKeystore == "":
			errs = append(errs, field.Invalid(p, t, "signing with bls needs a BLS keystore (blsKeystore and blsPassword)"))
		}
		seen[t] = true
	}
	m.keys.signing = m.decl.Spec.Operator.SigningKeys
	if len(m.keys.signing) == 0 {
		m.keys.signing = []fnv1alpha1.SigningKeyType{fnv1alpha1.SigningKeyECDSA}
		if m.keys.blsKeystore != "" {
			m.keys.signing = []fnv1alpha1.SigningKeyType{fnv1alpha1.SigningKeyBLS}
		}
	}
	return errs
}

// resolveStorage resolves the executor's volume where persistence is enabled: its size and
// storage class.
func resolveStorage(m *model) field.ErrorList {
	ps := m.decl.Spec.Persistence
	if !ps.Enabled {
		return nil
	}
	var errs field.ErrorList
	p := field.NewPath("spec", "persistence")
	v := &volumeModel{size: DefaultVolumeSize.DeepCopy(), storageClass: ps.StorageClassName}
	if ps.Size != nil {
		v.size = ps.Size.DeepCopy()
		if v.size.Sign() <= 0 {
			errs = append(errs, field.Invalid(p.Child("size"), v.size.String(), fmt.Sprintf("must be more than 0, got %s", v.size.String())))
		}
	}
	if sc := v.storageClass; sc != nil && *sc != "" {
		if msgs := validation.IsDNS1123Subdomain(*sc); len(msgs) > 0 {
			errs = append(errs, invalid(p.Child("storageClassName"), *sc, fmt.Sprintf("%s is no valid StorageClass name: %s", redact.String(*sc), strings.Join(msgs, "; "))))
		}
	}
	m.volume = v
	return errs
}

// resolveKubernetes resolves the operator namespace and the connection timeout the executor
// configuration carries, with their defaults.
func resolveKubernetes(m *model) field.ErrorList {
	var errs field.ErrorList
	m.operatorNamespace, m.timeout = DefaultOperatorNamespace, DefaultConnectionTimeout
	k := m.decl.Spec.Kubernetes
	if k == nil {
		return nil
	}
	p := field.NewPath("spec", "kubernetes")
	if k.OperatorNamespace != "" {
		m.operatorNamespace = k.OperatorNamespace
		if msgs := validation.IsDNS1123Label(k.OperatorNamespace); len(msgs) > 0 {
			errs = append(errs, invalid(p.Child("operatorNamespace"), k.OperatorNamespace, fmt.Sprintf("%s is no valid namespace name: %s", redact.String(k.OperatorNamespace), strings.Join(msgs, "; "))))
		}
	}
	if k.ConnectionTimeout != nil {
		m.timeout = k.ConnectionTimeout.Duration
		if m.timeout <= 0 {
			errs = append(errs, field.Invalid(p.Child("connectionTimeout"), m.timeout.String(), fmt.Sprintf("must be more than 0, got %s", m.timeout)))
		}
	}
	return errs
}

// redactAll describes names for a message as redact.String does, plain names in full.
func redactAll(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = n
		if !isWord(n) || redact.LooksSecret(n) {
			out[i] = redact.String(n)
		}
	}
	return out
}

// envName shows a variable's name in a message: as it is when it is a plain name, else as redact
// describes it.
func envName(name string) string {
	if isWord(name) && len(name) <= 63 {
		return name
	}
	return redact.String(name)
}

// reservedNamespace reports whether the function must not render namespace ns as its own, and
// why: Kubernetes' system namespaces, default, the GitOps engines' namespaces and the Performer
// controller's namespace belong to someone else.
func reservedNamespace(ns, operatorNamespace string) (string, bool) {
	switch {
	case strings.HasPrefix(ns, "kube-"):
		return "a namespace of Kubernetes' own components", true
	case ns == "default":
		return "the cluster's default namespace", true
	case ns == "flux-system" || ns == "argocd" || ns == "openshift-gitops":
		return "the namespace of a GitOps engine", true
	case ns == operatorNamespace:
		return "the namespace of the Performer controller (spec.kubernetes.operatorNamespace)", true
	}
	return "", false
}

// profileSet gathers the built-in profiles, the declaration's custom profiles and the
// PerformerProfile resources of the input. A name may be defined once. Profiles with problems are
// returned as broken: their problems are reported once, where they are defined.
func profileSet(in input, rep *report) (map[string]profiles.Profile, map[string]bool) {
	decl := in.decl
	set := profiles.BuiltIn(decl.Spec.ProfileParameters)
	broken := map[string]bool{}
	df := rep.about(in.declNode)
	df.errs = append(df.errs, checkBottlerocket(decl.Spec.ProfileParameters)...)
	define := func(pr profiles.Profile, f *findings, p *field.Path) {
		if old, dup := set[pr.Name]; dup {
			if old.Origin == "built-in" {
				f.errs = append(f.errs, duplicate(p, pr.Name, fmt.Sprintf("profile %s is built in; give the custom profile another name", redact.String(pr.Name))))
			} else {
				f.errs = append(f.errs, duplicate(p, pr.Name, fmt.Sprintf("profile %s is defined twice: here and in %s", redact.String(pr.Name), old.Origin)))
			}
			return
		}
		set[pr.Name] = pr
	}
	cps := field.NewPath("spec", "customProfiles")
	for i, cp := range decl.Spec.CustomProfiles {
		p := cps.Index(i)
		if !validName(cp.Name) {
			df.errs = append(df.errs, invalid(p.Child("name"), cp.Name, fmt.Sprintf("%s is no valid profile name (lower case letters, digits and '-')", redact.String(cp.Name))))
			continue
		}
		if errs := checkProfile(&cp.PerformerProfileSpec, p); len(errs) > 0 {
			df.errs = append(df.errs, errs...)
			broken[cp.Name] = true
		}
		define(profiles.Profile{Name: cp.Name, Origin: "AVSExecutor " + decl.Name + " " + p.String(), Spec: cp.PerformerProfileSpec}, df, p.Child("name"))
	}
	for _, pr := range in.profiles {
		f := rep.about(pr.node)
		pp := pr.profile
		if !validName(pp.Name) {
			f.errs = append(f.errs, invalid(field.NewPath("metadata", "name"), pp.Name, fmt.Sprintf("%s is no valid profile name (lower case letters, digits and '-')", redact.String(pp.Name))))
			continue
		}
		if errs := checkProfile(&pp.Spec, field.NewPath("spec")); len(errs) > 0 || pr.broken {
			f.errs = append(f.errs, errs...)
			broken[pp.Name] = true
		}
		if pr.node.GetAnnotations()[localConfigAnnotation] != "true" {
			f.warns = append(f.warns, field.Invalid(field.NewPath("metadata", "annotations"), nil, fmt.Sprintf(
				"PerformerProfile %s is not marked %s: \"true\", so kustomize and kpt would apply it to the cluster, which has no such kind", pp.Name, localConfigAnnotation)))
		}
		define(profiles.Profile{Name: pp.Name, Origin: "PerformerProfile " + displayName(pr.node), Spec: pp.Spec}, f, field.NewPath("metadata", "name"))
	}
	return set, broken
}

// validName reports whether n is a DNS-1123 label: a profile name must be one.
func validName(n string) bool {
	if n == "" || len(n) > 63 {
		return false
	}
	for i, c := range n {
		ok := (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c == '-' && i > 0 && i < len(n)-1)
		if !ok {
			return false
		}
	}
	return true
}

// capList joins at most n items for a message, saying how many more there are: a message must
// stay readable, and its size must not grow with the input.
func capList(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:n], ", "), len(items)-n)
}

// duplicate is a field error for a value given twice, with the sentence that says where.
func duplicate(p *field.Path, value any, detail string) *field.Error {
	return &field.Error{Type: field.ErrorTypeDuplicate, Field: p.String(), BadValue: redact.Value(value), Detail: detail}
}
