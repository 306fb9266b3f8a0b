// Package v1alpha1 contains the Performer API of group hourglass.eigenlayer.io.
// +kubebuilder:object:generate=true
// +groupName=hourglass.eigenlayer.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of the Performer API.
	GroupVersion = schema.GroupVersion{Group: "hourglass.eigenlayer.io", Version: "v1alpha1"}

	// SchemeBuilder registers the API types with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the API types to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
