package avsexecutor

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/kyaml/kio/kioutil"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	fnv1alpha1 "github.com/hourglass-gitops/hourglass-gitops/api/fn/v1alpha1"
	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
	"github.com/hourglass-gitops/hourglass-gitops/functions/yamlnode"
)

// Labels and annotations the function sets.
const (
	// DeclarationAnnotation names the declaration (namespace/name) an object was rendered from.
	// The function replaces objects carrying it when it runs on its own output.
	DeclarationAnnotation = v1alpha1.DeclarationAnnotation
	// ProfilesAnnotation lists the profiles a Performer was resolved with.
	ProfilesAnnotation = "fn.hourglass.eigenlayer.io/profiles"
	// ConfigHashAnnotation on the executor pod template rolls the executor when its
	// configuration (or inline keys) change.
	ConfigHashAnnotation = "fn.hourglass.eigenlayer.io/config-hash"
	// ExecutorLabel on a Performer names the executor that sends it tasks.
	ExecutorLabel = v1alpha1.ExecutorLabel

	syncWaveAnnotation    = "argocd.argoproj.io/sync-wave"
	syncOptionsAnnotation = "argocd.argoproj.io/sync-options"

	argoHookAnnotation             = "argocd.argoproj.io/hook"
	argoHookDeletePolicyAnnotation = "argocd.argoproj.io/hook-delete-policy"
)

// Argo CD sync waves: the namespace first, then everything the executor needs, then the executor,
// then its Performers (their CRD comes from the controller install). Argo CD waits for the health
// of every wave but the last, so the executor's rollout is seen before the sync ends; with the
// executor last, its comparison right after the sync could read a cache that had not seen the
// patch yet and start a self-heal sync of an object that was already in sync. The executor does
// not need its performers at start: it waits for them to turn Ready.
const (
	waveNamespace = "-1"
	waveSupport   = "0"
	waveExecutor  = "1"
	wavePerformer = "2"
)

// render builds every object of a validated declaration, in the order they are best applied.
func render(m *model) ([]*yaml.RNode, error) {
	r := &renderer{m: m}
	cfg, err := executorConfigFile(m)
	if err != nil {
		return nil, err
	}
	if len(cfg) > maxConfigSize {
		return nil, &tooBigError{what: fmt.Sprintf("the executor configuration for %d AVSs is %d bytes, more than a ConfigMap holds (%d)", len(m.avss), len(cfg), maxConfigSize)}
	}
	hash := sha256.New()
	hash.Write([]byte(cfg))

	if m.decl.Spec.CreateNamespace {
		r.add(&corev1.Namespace{
			TypeMeta:   meta("v1", "Namespace"),
			ObjectMeta: metav1.ObjectMeta{Name: m.namespace, Labels: merge(r.labels("executor"), podSecurityLabels)},
		}, waveNamespace)
	}
	r.add(&corev1.ServiceAccount{TypeMeta: meta("v1", "ServiceAccount"), ObjectMeta: r.objectMeta(m.name, "executor")}, waveSupport)
	if in := m.keys.inline; in != nil {
		data := map[string][]byte{DefaultECDSAKey: []byte(in.ECDSAPrivateKey)}
		if in.BLSKeystore != "" {
			data[m.keys.blsKeystore] = []byte(in.BLSKeystore)
			data[m.keys.blsPassword] = []byte(in.BLSPassword)
		}
		for _, k := range slices.Sorted(maps.Keys(data)) {
			hash.Write([]byte(k))
			hash.Write(data[k])
		}
		r.add(&corev1.Secret{
			TypeMeta: meta("v1", "Secret"), ObjectMeta: r.objectMeta(m.keys.secretName, "executor"),
			Type: corev1.SecretTypeOpaque, Data: data,
		}, waveSupport)
	}
	configMap := m.name + "-config"
	r.add(&corev1.ConfigMap{
		TypeMeta: meta("v1", "ConfigMap"), ObjectMeta: r.objectMeta(configMap, "executor"),
		Data: map[string]string{configFile: cfg},
	}, waveSupport)
	r.rbac()
	r.services()
	r.performerQuota()

	for _, a := range m.avss {
		r.performer(a)
	}
	if np := m.decl.Spec.NetworkPolicy; np != nil && np.Enabled {
		r.networkPolicy()
		r.executorNetworkPolicy()
	}
	if pdb := m.decl.Spec.Executor.PodDisruptionBudget; pdb != nil {
		r.add(&policyv1.PodDisruptionBudget{
			TypeMeta:   meta("policy/v1", "PodDisruptionBudget"),
			ObjectMeta: r.objectMeta(m.name, "executor"),
			Spec: policyv1.PodDisruptionBudgetSpec{
				MinAvailable: pdb.MinAvailable, MaxUnavailable: pdb.MaxUnavailable,
				Selector: &metav1.LabelSelector{MatchLabels: r.selector()},
			},
		}, waveSupport)
	}
	r.statefulSet(configMap, hex.EncodeToString(hash.Sum(nil)))
	r.syncedHook()
	if r.err != nil {
		return nil, r.err
	}
	if err := checkSizes(r.objs); err != nil {
		return nil, err
	}
	return r.objs, nil
}

// checkSizes refuses an object larger than the API server stores.
func checkSizes(objs []*yaml.RNode) error {
	for _, o := range objs {
		if bound, ok := yamlnode.JSONSizeBound(o.YNode()); ok && bound <= maxObjectSize {
			continue // surely small enough; measuring exactly costs more than rendering
		}
		b, err := o.MarshalJSON()
		if err != nil {
			return err
		}
		if len(b) > maxObjectSize {
			return &tooBigError{what: fmt.Sprintf("the rendered %s %s is %d bytes, more than the API server stores in one object (%d)", o.GetKind(), displayName(o), len(b), maxObjectSize)}
		}
	}
	return nil
}

// maxConfigSize keeps the executor ConfigMap under the API server's 1 MiB object limit, with
// room for its metadata. maxObjectSize is that limit (the API server refuses ConfigMaps and
// Secrets above it, and etcd requests not much larger), applied to every rendered object.
const (
	maxConfigSize = 1000 * 1024
	maxObjectSize = 1024 * 1024
)

// tooBigError is a declaration too large for the objects it renders.
type tooBigError struct{ what string }

// Error says what is too big and how to make it fit.
func (e *tooBigError) Error() string { return e.what + "; split the AVSs over several executors" }

// renderer collects the rendered objects of one declaration; the first error stops it.
type renderer struct {
	m    *model
	objs []*yaml.RNode
	err  error
}

// meta is the type of a rendered object.
func meta(apiVersion, kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: apiVersion, Kind: kind}
}

// labels are the recommended labels; app.kubernetes.io/instance is the executor, which all
// objects of a declaration belong to.
func (r *renderer) labels(component string) map[string]string {
	name := "hourglass-executor"
	if component == "performer" {
		name = "hourglass-performer"
	}
	return map[string]string{
		"app.kubernetes.io/name":      name,
		"app.kubernetes.io/instance":  r.m.name,
		"app.kubernetes.io/component": component,
		"app.kubernetes.io/part-of":   "hourglass",
	}
}

// selector selects the executor pods. It never changes: a StatefulSet's selector is immutable.
func (r *renderer) selector() map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":     "hourglass-executor",
		"app.kubernetes.io/instance": r.m.name,
	}
}

// objectMeta names an object of the declaration's namespace and gives it the labels of component.
func (r *renderer) objectMeta(name, component string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: r.m.namespace, Labels: r.labels(component)}
}

// syncedHook renders an Argo CD PostSync hook. Argo CD reports a sync done once it applied the
// last wave, without waiting for its health, and compares right away against a cache that may not
// have seen the last wave's objects yet: it then finds them missing or different and starts a
// self-heal sync of objects that were already in sync. Before a PostSync hook Argo CD waits until
// every object is healthy, by which time its cache has them; hooks are never compared, and this one
// is deleted once it ran. Other tools apply it as a small ConfigMap that says what it is.
func (r *renderer) syncedHook() {
	om := r.objectMeta(r.m.name+"-synced", "executor")
	om.Annotations = map[string]string{
		argoHookAnnotation:             "PostSync",
		argoHookDeletePolicyAnnotation: "BeforeHookCreation,HookSucceeded",
	}
	r.add(&corev1.ConfigMap{
		TypeMeta: meta("v1", "ConfigMap"), ObjectMeta: om,
		Data: map[string]string{"purpose": "Argo CD PostSync hook: the sync ends once the executor and its Performers are healthy"},
	}, wavePerformer)
}

// add converts obj to YAML and sets the annotations every rendered object carries.
func (r *renderer) add(obj runtime.Object, wave string) {
	if r.err != nil {
		return
	}
	om, ok := obj.(metav1.Object)
	if !ok {
		r.err = fmt.Errorf("%T has no object metadata", obj)
		return
	}
	ann := make(map[string]string, len(om.GetAnnotations())+3)
	for k, v := range om.GetAnnotations() {
		ann[k] = v
	}
	ann[DeclarationAnnotation] = r.m.id
	ann[syncWaveAnnotation] = wave
	// kpt writes new objects to this file, relative to the package: one folder per executor,
	// one file per object.
	kind := obj.GetObjectKind().GroupVersionKind().Kind
	ann[kioutil.PathAnnotation] = fmt.Sprintf("%s/%s_%s.yaml", r.m.name, strings.ToLower(kind), strings.ReplaceAll(om.GetName(), ":", "_"))
	om.SetAnnotations(ann)
	n, err := yamlnode.FromObject(obj)
	if err != nil {
		r.err = err
		return
	}
	yamlnode.Tidy(n)
	r.objs = append(r.objs, yaml.NewRNode(n))
}

// rbac renders what the executor may do: a Role and RoleBinding for its Performers, and a
// ClusterRole and ClusterRoleBinding to read its own namespace.
func (r *renderer) rbac() {
	m := r.m
	r.add(&rbacv1.Role{
		TypeMeta: meta("rbac.authorization.k8s.io/v1", "Role"), ObjectMeta: r.objectMeta(m.name, "executor"),
		Rules: []rbacv1.PolicyRule{
			// What the released executor calls: it creates one Performer per AVS, polls it with
			// get (status comes with the object) and deletes it on SIGTERM. Its configuration is
			// a mounted volume.
			{APIGroups: []string{v1alpha1.GroupVersion.Group}, Resources: []string{"performers"},
				Verbs: []string{"create", "delete", "get"}},
		},
	}, waveSupport)
	subjects := []rbacv1.Subject{{Kind: "ServiceAccount", Name: m.name, Namespace: m.namespace}}
	r.add(&rbacv1.RoleBinding{
		TypeMeta: meta("rbac.authorization.k8s.io/v1", "RoleBinding"), ObjectMeta: r.objectMeta(m.name, "executor"),
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: m.name}, Subjects: subjects,
	}, waveSupport)
	// The executor reads its own Namespace object when it starts (a connection check); a
	// namespace is cluster-scoped, so only a ClusterRole can allow that one read.
	cr := "hourglass-executor:" + m.namespace + ":" + m.name
	crMeta := metav1.ObjectMeta{Name: cr, Labels: r.labels("executor")}
	r.add(&rbacv1.ClusterRole{
		TypeMeta: meta("rbac.authorization.k8s.io/v1", "ClusterRole"), ObjectMeta: crMeta,
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"namespaces"}, ResourceNames: []string{m.namespace}, Verbs: []string{"get"}}},
	}, waveSupport)
	r.add(&rbacv1.ClusterRoleBinding{
		TypeMeta: meta("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"), ObjectMeta: crMeta,
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: cr}, Subjects: subjects,
	}, waveSupport)
}

// ports are the ports the executor serves: gRPC, and management and metrics where enabled.
func (r *renderer) ports() []corev1.ServicePort {
	m := r.m
	ports := []corev1.ServicePort{{Name: "grpc", Port: m.grpcPort, TargetPort: intstr.FromString("grpc"), Protocol: corev1.ProtocolTCP}}
	if m.mgmtPort != 0 {
		ports = append(ports, corev1.ServicePort{Name: "management", Port: m.mgmtPort, TargetPort: intstr.FromString("management"), Protocol: corev1.ProtocolTCP})
	}
	if m.metrics != 0 {
		ports = append(ports, corev1.ServicePort{Name: "metrics", Port: m.metrics, TargetPort: intstr.FromString("metrics"), Protocol: corev1.ProtocolTCP})
	}
	return ports
}

// services renders the executor's Service and its headless Service.
func (r *renderer) services() {
	m := r.m
	r.add(&corev1.Service{
		TypeMeta: meta("v1", "Service"), ObjectMeta: r.objectMeta(m.name, "executor"),
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Selector: r.selector(), Ports: r.ports()},
	}, waveSupport)
	// The headless Service gives each replica a stable DNS name; it lists replicas before they
	// are ready so that peers can find each other while starting.
	r.add(&corev1.Service{
		TypeMeta: meta("v1", "Service"), ObjectMeta: r.objectMeta(m.name+"-headless", "executor"),
		Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, PublishNotReadyAddresses: true, Selector: r.selector(), Ports: r.ports()},
	}, waveSupport)
}

// performer renders the Performer of one AVS: its image, port, environment and the settings
// resolved from profiles and the hardware mapping. Plain environment values go to
// config.environment, references to Secrets and ConfigMaps to config.environmentFrom.
func (r *renderer) performer(a avsModel) {
	m := r.m
	perf := a.spec.Performer
	spec := v1alpha1.PerformerSpec{
		AVSAddress:      a.spec.Address,
		Image:           a.image,
		ImagePullPolicy: perf.ImagePullPolicy,
		Version:         perf.Version,
		Config: v1alpha1.PerformerConfig{
			GRPCPort: a.grpcPort, Args: perf.Args, Command: perf.Command, ServiceAccountName: perf.ServiceAccountName,
		},
		HardwareRequirements: a.hardware,
		Scheduling:           a.scheduling,
		Resources:            a.resources,
		ImagePullSecrets:     perf.ImagePullSecrets,
	}
	for _, e := range perf.Env {
		if e.ValueFrom == nil {
			if spec.Config.Environment == nil {
				spec.Config.Environment = map[string]string{}
			}
			spec.Config.Environment[e.Name] = e.Value
			continue
		}
		spec.Config.EnvironmentFrom = append(spec.Config.EnvironmentFrom, v1alpha1.EnvVarFrom{Name: e.Name, ValueFrom: *e.ValueFrom.DeepCopy()})
	}
	om := metav1.ObjectMeta{Name: a.spec.Name, Namespace: m.namespace,
		Labels: merge(r.labels("performer"), map[string]string{ExecutorLabel: m.name})}
	// The Performer CRD comes with the controller install, usually another Argo CD application:
	// without this option Argo CD would refuse the whole sync while the CRD is missing.
	om.Annotations = map[string]string{syncOptionsAnnotation: "SkipDryRunOnMissingResource=true"}
	if len(a.profiles) > 0 {
		om.Annotations[ProfilesAnnotation] = strings.Join(a.profiles, ",")
	}
	r.add(&v1alpha1.Performer{TypeMeta: meta(v1alpha1.GroupVersion.String(), v1alpha1.PerformerKind), ObjectMeta: om, Spec: spec}, wavePerformer)
}

// networkPolicy admits to the performer pods of the declaration only the executor pods, on the
// performers' gRPC ports.
func (r *renderer) networkPolicy() {
	m := r.m
	var names []string
	ports := map[int32]bool{}
	for _, a := range m.avss {
		names = append(names, a.spec.Name)
		ports[a.grpcPort] = true
	}
	sort.Strings(names)
	var npPorts []networkingv1.NetworkPolicyPort
	for _, p := range sortedPorts(ports) {
		port, proto := intstr.FromInt32(p), corev1.ProtocolTCP
		npPorts = append(npPorts, networkingv1.NetworkPolicyPort{Protocol: &proto, Port: &port})
	}
	r.add(&networkingv1.NetworkPolicy{
		TypeMeta: meta("networking.k8s.io/v1", "NetworkPolicy"), ObjectMeta: r.objectMeta(m.name+"-performers", "performer"),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{
				MatchLabels:      map[string]string{"app": v1alpha1.AppName},
				MatchExpressions: []metav1.LabelSelectorRequirement{{Key: v1alpha1.PerformerLabel, Operator: metav1.LabelSelectorOpIn, Values: names}},
			},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From:  []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: r.selector()}}},
				Ports: npPorts,
			}},
		},
	}, waveSupport)
}

// executorNetworkPolicy admits to the executor pods only the ports the executor serves, from
// anywhere: aggregators, operators and scrapers may be outside the cluster. The forwarder's health
// port is left out, so only the pod's node reaches it: a NetworkPolicy always admits the node, where
// the kubelet probes from. The forwarder's routes listen on 127.0.0.1.
func (r *renderer) executorNetworkPolicy() {
	m := r.m
	var npPorts []networkingv1.NetworkPolicyPort
	for _, p := range r.ports() {
		port, proto := intstr.FromInt32(p.Port), corev1.ProtocolTCP
		npPorts = append(npPorts, networkingv1.NetworkPolicyPort{Protocol: &proto, Port: &port})
	}
	r.add(&networkingv1.NetworkPolicy{
		TypeMeta: meta("networking.k8s.io/v1", "NetworkPolicy"), ObjectMeta: r.objectMeta(m.name, "executor"),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: r.selector()},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress:     []networkingv1.NetworkPolicyIngressRule{{Ports: npPorts}},
		},
	}, waveSupport)
}

// statefulSet renders the executor: its container, the forwarder beside it where the AVSs need
// one, its pod and, with persistence, the claim for its data.
func (r *renderer) statefulSet(configMap, hash string) {
	m := r.m
	podLabels := merge(r.labels("executor"), map[string]string{"app": m.name})
	replicas := m.replicas
	container := r.executorContainer()
	volumes := executorVolumes(configMap)
	if m.keys.blsKeystore != "" {
		volumes = append(volumes, r.keysVolume())
		container.VolumeMounts = append(container.VolumeMounts, corev1.VolumeMount{Name: "operator-keys", MountPath: keysDir, ReadOnly: true})
	}
	if m.volume != nil {
		container.VolumeMounts = append(container.VolumeMounts, corev1.VolumeMount{Name: "data", MountPath: dataDir})
	}
	sts := &appsv1.StatefulSet{
		TypeMeta:   meta("apps/v1", "StatefulSet"),
		ObjectMeta: metav1.ObjectMeta{Name: m.name, Namespace: m.namespace, Labels: podLabels},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    &replicas,
			ServiceName: m.name + "-headless",
			Selector:    &metav1.LabelSelector{MatchLabels: r.selector()},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels, Annotations: map[string]string{ConfigHashAnnotation: hash}},
				Spec:       r.executorPod(container, volumes),
			},
		},
	}
	if m.volume != nil {
		sts.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{r.dataClaim()}
	}
	r.add(sts, waveExecutor)
}

// executorContainer is the executor's container: its command, ports, key environment, probes and
// a restricted security context.
func (r *renderer) executorContainer() corev1.Container {
	m := r.m
	e := m.decl.Spec.Executor
	falseV, trueV := false, true
	container := corev1.Container{
		Name:            "executor",
		Image:           m.image,
		ImagePullPolicy: e.Image.PullPolicy,
		Command:         []string{"executor", "run", "--config", configDir + "/" + configFile},
		Ports:           []corev1.ContainerPort{{Name: "grpc", ContainerPort: m.grpcPort, Protocol: corev1.ProtocolTCP}},
		Env:             r.keyEnv(),
		VolumeMounts: []corev1.VolumeMount{
			{Name: "config", MountPath: configDir, ReadOnly: true},
			{Name: "tmp", MountPath: "/tmp"},
		},
		// The executor's gRPC server takes connections once it has started; a TCP check needs
		// nothing from the image.
		StartupProbe:   tcpProbe(5, 60),
		ReadinessProbe: tcpProbe(10, 3),
		LivenessProbe:  tcpProbe(20, 3),
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: &falseV,
			ReadOnlyRootFilesystem:   &trueV,
			RunAsNonRoot:             &trueV,
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
	}
	if e.Resources != nil {
		container.Resources = *e.Resources.DeepCopy()
	}
	if m.mgmtPort != 0 {
		container.Ports = append(container.Ports, corev1.ContainerPort{Name: "management", ContainerPort: m.mgmtPort, Protocol: corev1.ProtocolTCP})
	}
	if m.metrics != 0 {
		container.Ports = append(container.Ports, corev1.ContainerPort{Name: "metrics", ContainerPort: m.metrics, Protocol: corev1.ProtocolTCP})
	}
	return container
}

// executorVolumes are the volumes every executor pod has: its configuration and a writable /tmp.
func executorVolumes(configMap string) []corev1.Volume {
	return []corev1.Volume{
		{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: configMap},
		}}},
		{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}
}

// keysVolume mounts the BLS keystore from the operator key Secret, readable by the pod's group.
func (r *renderer) keysVolume() corev1.Volume {
	k := r.m.keys
	mode := int32(0o440)
	return corev1.Volume{Name: "operator-keys", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
		SecretName: k.secretName, DefaultMode: &mode,
		Items: []corev1.KeyToPath{{Key: k.blsKeystore, Path: blsKeystoreFile}},
	}}}
}

// executorPod is the executor's pod: a non-root user, the forwarder as a native sidecar where the
// AVSs need one, the declared scheduling, and replicas spread over nodes unless the declaration
// says otherwise.
func (r *renderer) executorPod(container corev1.Container, volumes []corev1.Volume) corev1.PodSpec {
	m := r.m
	e := m.decl.Spec.Executor
	trueV := true
	user := int64(65532)
	var initContainers []corev1.Container
	if m.forwarder != nil {
		initContainers = append(initContainers, r.forwarder())
	}
	pod := corev1.PodSpec{
		ServiceAccountName: m.name,
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot: &trueV, RunAsUser: &user, RunAsGroup: &user, FSGroup: &user,
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		InitContainers:   initContainers,
		Containers:       []corev1.Container{container},
		Volumes:          volumes,
		ImagePullSecrets: e.ImagePullSecrets,
	}
	if s := e.Scheduling; s != nil {
		pod.NodeSelector = s.NodeSelector
		pod.Tolerations = s.Tolerations
		pod.Affinity = s.Affinity.DeepCopy()
		pod.RuntimeClassName = s.RuntimeClass
		pod.PriorityClassName = s.PriorityClassName
	}
	if m.replicas > 1 && (pod.Affinity == nil || pod.Affinity.PodAntiAffinity == nil) {
		if pod.Affinity == nil {
			pod.Affinity = &corev1.Affinity{}
		}
		pod.Affinity.PodAntiAffinity = r.spreadReplicas()
	}
	return pod
}

// spreadReplicas prefers, not requires, executor replicas on different nodes: a small cluster
// still runs every replica.
func (r *renderer) spreadReplicas() *corev1.PodAntiAffinity {
	return &corev1.PodAntiAffinity{
		PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
			Weight: 100,
			PodAffinityTerm: corev1.PodAffinityTerm{
				LabelSelector: &metav1.LabelSelector{MatchLabels: r.selector()},
				TopologyKey:   corev1.LabelHostname,
			},
		}},
	}
}

// dataClaim is the claim template for the executor's data. The API server defaults volumeMode and
// the status of a claim template, and treats the templates as one value: written out, a
// server-side diff or apply by anyone but the field's owner (Flux's drift check, Argo CD's diff)
// finds no difference to fight over.
func (r *renderer) dataClaim() corev1.PersistentVolumeClaim {
	v := r.m.volume
	filesystem := corev1.PersistentVolumeFilesystem
	return corev1.PersistentVolumeClaim{
		TypeMeta:   meta("v1", "PersistentVolumeClaim"),
		ObjectMeta: metav1.ObjectMeta{Name: "data", Labels: r.selector()},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: v.storageClass,
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: v.size}},
			VolumeMode:       &filesystem,
		},
		Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending},
	}
}

// forwarder is the loopback forwarder: a native sidecar (an init container that keeps running),
// started and ready before the executor, listening on 127.0.0.1 once per AVS and passing each
// connection on to the performer's Service. The released executor dials 127.0.0.1 without TLS,
// and the kubelet probes /healthz on the pod IP.
func (r *renderer) forwarder() corev1.Container {
	m := r.m
	f := m.forwarder
	args := make([]string, 0, len(m.avss)+1)
	for _, a := range m.avss {
		args = append(args, fmt.Sprintf("--route=127.0.0.1:%d=%s", a.listenPort, performerEndpoint(m, a)))
	}
	if n := forwarderMaxConnections(len(m.avss), f.resources.Limits.Memory()); n > 0 {
		args = append(args, fmt.Sprintf("--max-connections=%d", n))
	}
	args = append(args, fmt.Sprintf("--health-addr=:%d", f.healthPort))
	always := corev1.ContainerRestartPolicyAlways
	falseV, trueV := false, true
	probe := func(period, failures int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString(forwarderHealthPortName)}},
			PeriodSeconds:    period,
			FailureThreshold: failures,
		}
	}
	return corev1.Container{
		Name:            forwarderContainer,
		Image:           f.image,
		ImagePullPolicy: f.pullPolicy,
		Command:         []string{forwarderBinary},
		Args:            args,
		RestartPolicy:   &always,
		Ports:           []corev1.ContainerPort{{Name: forwarderHealthPortName, ContainerPort: f.healthPort, Protocol: corev1.ProtocolTCP}},
		Resources:       *f.resources.DeepCopy(),
		StartupProbe:    probe(2, 30),
		ReadinessProbe:  probe(10, 3),
		LivenessProbe:   probe(20, 3),
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: &falseV,
			ReadOnlyRootFilesystem:   &trueV,
			RunAsNonRoot:             &trueV,
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
	}
}

// The forwarder's memory at its connection cap: about 20 KiB a forwarded connection, plus up to
// two 16 KiB copy buffers while bytes flow, over about 8 MiB of its own (measured in
// controller/cmd/performer-forwarder, TestBinaryBounds).
const (
	forwarderDefaultMaxConnections = 128 // its --max-connections default, per route
	forwarderBaseMemory            = 8 << 20
	forwarderConnectionMemory      = 64 << 10 // with room to spare
)

// forwarderMaxConnections is the --max-connections for routes routes under a memory limit, or 0
// where the forwarder's default fits: every route at its cap must fit in the limit.
func forwarderMaxConnections(routes int, limit *resource.Quantity) int {
	if routes == 0 || limit == nil || limit.IsZero() {
		return 0
	}
	n := (limit.Value() - forwarderBaseMemory) / forwarderConnectionMemory / int64(routes)
	if n >= forwarderDefaultMaxConnections {
		return 0
	}
	return int(max(n, 1))
}

// forwarderHealthPortName names the forwarder's health port (at most 15 characters).
const forwarderHealthPortName = "fwd-health"

// keyEnv fills the configuration's empty secret values: the keys from the operator key Secret,
// and the L1 RPC URL from its Secret when rpcUrlFrom names one.
func (r *renderer) keyEnv() []corev1.EnvVar {
	k := r.m.keys
	ref := func(name, key string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: k.secretName}, Key: key,
		}}}
	}
	env := []corev1.EnvVar{ref(envECDSAPrivateKey, k.ecdsaKey)}
	if s := r.m.l1.rpcURLSecret; s != nil {
		env = append(env, corev1.EnvVar{Name: envL1RPCURL, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: s.DeepCopy()}})
	}
	for _, t := range k.signing {
		switch t {
		case fnv1alpha1.SigningKeyECDSA:
			env = append(env, ref(envSigningECDSAKey, k.ecdsaKey))
		case fnv1alpha1.SigningKeyBLS:
			env = append(env, ref(envSigningBLSPassword, k.blsPassword))
		}
	}
	sort.Slice(env, func(i, j int) bool { return env[i].Name < env[j].Name })
	return env
}

// tcpProbe checks the executor's gRPC port every period seconds, failing after failures misses.
func tcpProbe(period, failures int32) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler:     corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("grpc")}},
		PeriodSeconds:    period,
		FailureThreshold: failures,
	}
}

// merge is a copy of a with the entries of b over it.
func merge(a, b map[string]string) map[string]string {
	out := make(map[string]string, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// sortedPorts is the ports of a set, in ascending order.
func sortedPorts(m map[int32]bool) []int32 {
	out := make([]int32, 0, len(m))
	for p := range m {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
