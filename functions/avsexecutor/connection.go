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
	e := &m.decl.Spec.Executor
	p := field.NewPath("spec", "executor", "performerConnection")
	conn := e.PerformerConnection
	if conn == nil {
		conn = &fnv1alpha1.PerformerConnectionSpec{}
	}
	if conn.Mode == fnv1alpha1.PerformerConnectionDirect {
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
		return errs, warns
	}

	fw := conn.Forwarder
	if fw == nil {
		fw = &fnv1alpha1.ForwarderSpec{}
	}
	fp := p.Child("forwarder")
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
	base := DefaultForwarderBasePort
	if fw.BasePort != 0 {
		base = fw.BasePort
	}
	m.forwarder = f

	// Every port of the pod is taken once: the executor's, the forwarder's health port and one
	// loopback port per AVS.
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
			"basePort %d leaves no room for %d AVSs: the last would listen on port %d, beyond 65535", base, len(m.avss), last))), warns
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
	return errs, warns
}

func defaultForwarderResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
	}
}
