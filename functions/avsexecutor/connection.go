package avsexecutor

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation/field"

	fnv1alpha1 "github.com/hourglass-gitops/hourglass-gitops/api/fn/v1alpha1"
)

// resolveConnection decides how the executor reaches each performer: through the loopback
// forwarder (the default; one port per AVS from basePort, in supportedAvs order) or directly.
func resolveConnection(m *model) (errs, warns field.ErrorList) {
	p := field.NewPath("spec", "executor", "performerConnection")
	conn := m.decl.Spec.Executor.PerformerConnection
	if conn == nil {
		conn = &fnv1alpha1.PerformerConnectionSpec{}
	}
	if conn.Mode == fnv1alpha1.PerformerConnectionDirect {
		return nil, resolveDirect(m, conn, p)
	}
	fw := conn.Forwarder
	if fw == nil {
		fw = &fnv1alpha1.ForwarderSpec{}
	}
	fp := p.Child("forwarder")
	errs = resolveForwarder(m, fw, fp)
	return append(errs, assignPorts(m, fw, fp)...), nil
}

// resolveDirect has the executor dial each performer's Service, and warns where the executor
// image is known not to manage that.
func resolveDirect(m *model, conn *fnv1alpha1.PerformerConnectionSpec, p *field.Path) (warns field.ErrorList) {
	if conn.Forwarder != nil {
		warns = append(warns, field.Invalid(p.Child("forwarder"), nil, "forwarder settings are ignored in Direct mode"))
	}
	if strings.HasPrefix(m.image, DefaultExecutorRepository+":") {
		warns = append(warns, field.Invalid(p.Child("mode"), conn.Mode, "the released executor ("+DefaultExecutorRepository+
			") dials performers with TLS unless the address is localhost or 127.0.0.1, and performers serve plaintext gRPC, so in Direct mode it cannot reach them; "+
			"use mode Forwarder (the default) unless this executor image dials plaintext"))
	}
	for i := range m.avss {
		m.avss[i].endpoint = performerEndpoint(m, m.avss[i])
	}
	return warns
}

// resolveForwarder sets the forwarder's image and resources.
func resolveForwarder(m *model, fw *fnv1alpha1.ForwarderSpec, fp *field.Path) (errs field.ErrorList) {
	f := &forwarderModel{healthPort: DefaultForwarderHealthPort, resources: defaultForwarderResources()}
	img := fnv1alpha1.ImageSpec{}
	if fw.Image != nil {
		img = *fw.Image
		f.pullPolicy = fw.Image.PullPolicy
	}
	f.image, errs = resolveImage(img, fp.Child("image"), DefaultForwarderRepository, DefaultForwarderTag, errs)
	if fw.Resources != nil {
		f.resources = *fw.Resources.DeepCopy()
		errs = append(errs, checkResourceOrder(fw.Resources, fp.Child("resources"), "")...)
	}
	m.forwarder = f
	return errs
}

// assignPorts gives the forwarder its health port and each AVS its loopback port. Every port of
// the pod is taken once: the executor's, the forwarder's health port and one loopback port per
// AVS.
func assignPorts(m *model, fw *fnv1alpha1.ForwarderSpec, fp *field.Path) (errs field.ErrorList) {
	f := m.forwarder
	base := DefaultForwarderBasePort
	if fw.BasePort != 0 {
		base = fw.BasePort
	}
	taken := map[int32]string{m.grpcPort: "the executor's grpcPort"}
	if m.mgmtPort != 0 {
		taken[m.mgmtPort] = "the executor's managementPort"
	}
	if m.metrics != 0 {
		taken[m.metrics] = "the executor's metricsPort"
	}
	last := int(base) + len(m.avss) - 1
	switch {
	case fw.HealthPort != 0:
		f.healthPort = fw.HealthPort
	case taken[f.healthPort] != "":
		// The default is taken by the executor: the first port after the AVSs' is free.
		f.healthPort = int32(last + 1)
		for taken[f.healthPort] != "" {
			f.healthPort++
		}
	}
	if other, ok := taken[f.healthPort]; ok {
		errs = append(errs, duplicate(fp.Child("healthPort"), f.healthPort, fmt.Sprintf("port %d is already %s", f.healthPort, other)))
	}
	taken[f.healthPort] = "the forwarder's healthPort"
	if last > 65535 {
		return append(errs, field.Invalid(fp.Child("basePort"), base, fmt.Sprintf(
			"basePort %d leaves no room for %d AVSs: the last would listen on port %d, beyond 65535", base, len(m.avss), last)))
	}
	for i := range m.avss {
		a := &m.avss[i]
		port := base + int32(i)
		if other, ok := taken[port]; ok {
			errs = append(errs, duplicate(fp.Child("basePort"), base, fmt.Sprintf(
				"AVS %s (supportedAvs[%d]) would get loopback port %d, which is already %s; choose basePort and healthPort so that ports %d to %d are free",
				a.spec.Name, i, port, other, base, int(base)+len(m.avss)-1)))
		}
		a.listenPort = port
		a.endpoint = fmt.Sprintf("127.0.0.1:%d", port)
	}
	return errs
}

// defaultForwarderResources are the forwarder's requests and limits unless the declaration sets
// its own: enough for the default connection cap of a few routes.
func defaultForwarderResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
	}
}
