package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	hourglassv1alpha1 "github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
)

// PerformerProfileSpec is a named bundle of hardware and scheduling settings that AVSs combine.
type PerformerProfileSpec struct {
	// Description of the profile, for people.
	// +optional
	Description string `json:"description,omitempty"`

	// HardwareRequirements the profile adds. They are mapped to node labels, tolerations, device
	// resources and runtime classes by the same mapping the Performer controller uses.
	// +optional
	HardwareRequirements *hourglassv1alpha1.HardwareRequirements `json:"hardwareRequirements,omitempty"`

	// Scheduling the profile adds.
	// +optional
	Scheduling *hourglassv1alpha1.Scheduling `json:"scheduling,omitempty"`

	// Resources the profile adds to the performer container.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced,categories=hourglass-fn

// PerformerProfile is a user-defined profile. Put it next to the AVSExecutor in a kpt package, or
// in the resources of a kustomization that runs the function as a transformer; mark it
// config.kubernetes.io/local-config so it is never applied.
type PerformerProfile struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec PerformerProfileSpec `json:"spec"`
}

// +kubebuilder:object:root=true

// PerformerProfileList is a list of PerformerProfiles.
type PerformerProfileList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PerformerProfile `json:"items"`
}

func init() {
	SchemeBuilder.Register(&PerformerProfile{}, &PerformerProfileList{})
}
