// Package v1alpha1 contains the function-config API of group fn.hourglass.eigenlayer.io: the
// AVSExecutor declaration and the PerformerProfile resource that the avs-executor KRM function
// reads. These kinds are inputs to the function and are never applied to a cluster; their
// schema is published under functions/schema for editors and kpt.
// +kubebuilder:object:generate=true
// +groupName=fn.hourglass.eigenlayer.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of the function-config API.
	GroupVersion = schema.GroupVersion{Group: "fn.hourglass.eigenlayer.io", Version: "v1alpha1"}

	// SchemeBuilder registers the API types with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the API types to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

const (
	// AVSExecutorKind is the kind of an executor declaration.
	AVSExecutorKind = "AVSExecutor"
	// PerformerProfileKind is the kind of a user-defined profile.
	PerformerProfileKind = "PerformerProfile"
)
