package avsexecutor

import (
	"fmt"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	fnv1alpha1 "github.com/hourglass-gitops/hourglass-gitops/api/fn/v1alpha1"
	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
	"github.com/hourglass-gitops/hourglass-gitops/functions/yamlnode"
)

// Where the executor pod finds its configuration, keys and data.
const (
	configDir       = "/etc/hourglass/config"
	configFile      = "config.yaml"
	keysDir         = "/etc/hourglass/keys"
	blsKeystoreFile = "bls-keystore.json"
	dataDir         = "/data"
	badgerDir       = dataDir + "/executor"
)

// Environment variables that fill secret values of the configuration. The executor reads its
// configuration with viper (env prefix "EXECUTOR_", "." replaced by "_", automatic env), which
// joins prefix and key with another "_"; a variable wins over a key present in the file.
const (
	envECDSAPrivateKey    = "EXECUTOR__OPERATOR_OPERATORPRIVATEKEY_PRIVATEKEY"
	envSigningECDSAKey    = "EXECUTOR__OPERATOR_SIGNINGKEYS_ECDSA_PRIVATEKEY"
	envSigningBLSPassword = "EXECUTOR__OPERATOR_SIGNINGKEYS_BLS_PASSWORD"
	envL1RPCURL           = "EXECUTOR__L1CHAIN_RPCURL"
)

// The executor configuration file, in the executor's own field names.
type executorConfig struct {
	Debug                    bool              `yaml:"debug,omitempty"`
	GRPCPort                 int32             `yaml:"grpcPort"`
	ManagementServerGRPCPort int32             `yaml:"managementServerGrpcPort,omitempty"`
	Operator                 operatorConfig    `yaml:"operator"`
	L1Chain                  l1ChainConfig     `yaml:"l1Chain"`
	AVSPerformers            []performerConfig `yaml:"avsPerformers"`
	Kubernetes               kubernetesConfig  `yaml:"kubernetes"`
	Storage                  storageConfig     `yaml:"storage"`
}

type operatorConfig struct {
	Address            string         `yaml:"address"`
	OperatorPrivateKey ecdsaKeyConfig `yaml:"operatorPrivateKey"`
	SigningKeys        signingKeys    `yaml:"signingKeys"`
}

type ecdsaKeyConfig struct {
	PrivateKey string `yaml:"privateKey"`
}

type signingKeys struct {
	BLS   *blsKeyConfig   `yaml:"bls,omitempty"`
	ECDSA *ecdsaKeyConfig `yaml:"ecdsa,omitempty"`
}

type blsKeyConfig struct {
	KeystoreFile string `yaml:"keystoreFile"`
	Password     string `yaml:"password"`
}

type l1ChainConfig struct {
	RPCURL  string `yaml:"rpcUrl"`
	ChainID int64  `yaml:"chainId"`
}

type performerConfig struct {
	Image          imageConfig         `yaml:"image"`
	ProcessType    string              `yaml:"processType"`
	AVSAddress     string              `yaml:"avsAddress"`
	DeploymentMode string              `yaml:"deploymentMode"`
	Kubernetes     performerKubernetes `yaml:"kubernetes"`
	Envs           []envConfig         `yaml:"envs,omitempty"`
}

type imageConfig struct {
	Repository string `yaml:"repository"`
	Tag        string `yaml:"tag"`
}

type performerKubernetes struct {
	ServiceAccountName string `yaml:"serviceAccountName,omitempty"`
	EndpointOverride   string `yaml:"endpointOverride"`
}

type envConfig struct {
	Name          string         `yaml:"name"`
	Value         string         `yaml:"value,omitempty"`
	KubernetesEnv *kubernetesEnv `yaml:"kubernetesEnv,omitempty"`
}

type kubernetesEnv struct {
	ValueFrom envValueFrom `yaml:"valueFrom"`
}

type envValueFrom struct {
	SecretKeyRef    *keySelector `yaml:"secretKeyRef,omitempty"`
	ConfigMapKeyRef *keySelector `yaml:"configMapKeyRef,omitempty"`
}

type keySelector struct {
	Name string `yaml:"name"`
	Key  string `yaml:"key"`
}

type kubernetesConfig struct {
	Namespace         string `yaml:"namespace"`
	OperatorNamespace string `yaml:"operatorNamespace"`
	CRDGroup          string `yaml:"crdGroup"`
	CRDVersion        string `yaml:"crdVersion"`
	ConnectionTimeout string `yaml:"connectionTimeout"`
	InCluster         bool   `yaml:"inCluster"`
}

type storageConfig struct {
	Type         string        `yaml:"type"`
	Badger       *badgerConfig `yaml:"badger,omitempty"`
	BadgerConfig *badgerConfig `yaml:"badgerConfig,omitempty"`
}

type badgerConfig struct {
	Dir string `yaml:"dir"`
}

// performerEndpoint is the in-cluster gRPC address of the Service the Performer controller
// creates for a Performer.
func performerEndpoint(m *model, a avsModel) string {
	return v1alpha1.ServiceEndpoint(a.spec.Name, m.namespace, a.grpcPort)
}

// executorConfigFile renders the executor configuration file. Secret values stay empty: the pod
// fills them from the operator key Secret through environment variables.
func executorConfigFile(m *model) (string, error) {
	c := executorConfigOf(m)
	doc, err := yamlnode.FromValue(c)
	if err != nil {
		return "", err
	}
	if err := commentSecrets(m, c, doc); err != nil {
		return "", err
	}
	yamlnode.QuoteHex(doc)
	out, err := yaml.Marshal(doc)
	if err != nil {
		return "", err
	}
	return string(out), nil
}

// executorConfigOf is the executor configuration of a validated declaration.
func executorConfigOf(m *model) *executorConfig {
	c := &executorConfig{
		Debug:                    m.decl.Spec.Executor.Debug,
		GRPCPort:                 m.grpcPort,
		ManagementServerGRPCPort: m.mgmtPort,
		Operator:                 operatorConfig{Address: m.decl.Spec.Operator.Address},
		L1Chain:                  l1ChainConfig{RPCURL: m.l1.rpcURL, ChainID: m.l1.chainID},
		Kubernetes: kubernetesConfig{
			Namespace:         m.namespace,
			OperatorNamespace: m.operatorNamespace,
			CRDGroup:          v1alpha1.GroupVersion.Group,
			CRDVersion:        v1alpha1.GroupVersion.Version,
			ConnectionTimeout: m.timeout.String(),
			InCluster:         true,
		},
		Storage: storageConfig{Type: "memory"},
	}
	for _, t := range m.keys.signing {
		switch t {
		case fnv1alpha1.SigningKeyBLS:
			c.Operator.SigningKeys.BLS = &blsKeyConfig{KeystoreFile: keysDir + "/" + blsKeystoreFile}
		case fnv1alpha1.SigningKeyECDSA:
			c.Operator.SigningKeys.ECDSA = &ecdsaKeyConfig{}
		}
	}
	if m.volume != nil {
		c.Storage = storageConfig{Type: "badger", Badger: &badgerConfig{Dir: badgerDir}, BadgerConfig: &badgerConfig{Dir: badgerDir}}
	}
	for _, a := range m.avss {
		c.AVSPerformers = append(c.AVSPerformers, performerConfigOf(a))
	}
	return c
}

// performerConfigOf is the executor's entry for one AVS: which image to run and where the
// Performer serves it.
func performerConfigOf(a avsModel) performerConfig {
	pc := performerConfig{
		Image:          imageConfig{Repository: a.repository, Tag: a.tag},
		ProcessType:    "server",
		AVSAddress:     a.spec.Address,
		DeploymentMode: "kubernetes",
		Kubernetes: performerKubernetes{
			ServiceAccountName: a.spec.Performer.ServiceAccountName,
			EndpointOverride:   a.endpoint,
		},
	}
	for _, e := range a.spec.Performer.Env {
		ec := envConfig{Name: e.Name, Value: e.Value}
		if vf := e.ValueFrom; vf != nil {
			ec.KubernetesEnv = &kubernetesEnv{}
			if r := vf.SecretKeyRef; r != nil {
				ec.KubernetesEnv.ValueFrom.SecretKeyRef = &keySelector{Name: r.Name, Key: r.Key}
			}
			if r := vf.ConfigMapKeyRef; r != nil {
				ec.KubernetesEnv.ValueFrom.ConfigMapKeyRef = &keySelector{Name: r.Name, Key: r.Key}
			}
		}
		pc.Envs = append(pc.Envs, ec)
	}
	return pc
}

// commentSecrets says in doc, the configuration's node, where each empty secret value comes from.
func commentSecrets(m *model, c *executorConfig, doc *yaml.Node) error {
	root := yaml.NewRNode(doc)
	doc.HeadComment = fmt.Sprintf("Hourglass executor configuration rendered from AVSExecutor %s.\n"+
		"Key material is not in this file: the executor pod sets the empty values below from Secret %s.", m.id, m.keys.secretName)
	comment := func(text string, path ...string) error {
		n, err := root.Pipe(yaml.Lookup(path...))
		if err != nil || n == nil {
			return fmt.Errorf("executor config has no %s: %v", strings.Join(path, "."), err)
		}
		n.YNode().LineComment = text
		return nil
	}
	if err := comment(fmt.Sprintf("from key %s, through %s", m.keys.ecdsaKey, envECDSAPrivateKey), "operator", "operatorPrivateKey", "privateKey"); err != nil {
		return err
	}
	if s := m.l1.rpcURLSecret; s != nil {
		if err := comment(fmt.Sprintf("from key %s of Secret %s, through %s", s.Key, s.Name, envL1RPCURL), "l1Chain", "rpcUrl"); err != nil {
			return err
		}
	}
	if c.Operator.SigningKeys.ECDSA != nil {
		if err := comment(fmt.Sprintf("from key %s, through %s", m.keys.ecdsaKey, envSigningECDSAKey), "operator", "signingKeys", "ecdsa", "privateKey"); err != nil {
			return err
		}
	}
	if c.Operator.SigningKeys.BLS != nil {
		if err := comment(fmt.Sprintf("key %s of the Secret, mounted", m.keys.blsKeystore), "operator", "signingKeys", "bls", "keystoreFile"); err != nil {
			return err
		}
		if err := comment(fmt.Sprintf("from key %s, through %s", m.keys.blsPassword, envSigningBLSPassword), "operator", "signingKeys", "bls", "password"); err != nil {
			return err
		}
	}
	if c.Storage.BadgerConfig != nil {
		sc, err := root.Pipe(yaml.Lookup("storage"))
		if err != nil || sc == nil {
			return fmt.Errorf("executor config has no storage: %v", err)
		}
		// Field names in YAML: badger is the documented JSON name, badgerConfig the Go field
		// name that the executor's file loader (viper, which ignores JSON tags) matches.
		for i := 0; i+1 < len(sc.YNode().Content); i += 2 {
			if sc.YNode().Content[i].Value == "badgerConfig" {
				sc.YNode().Content[i].HeadComment = "the same for the executor's file loader, which matches Go field names"
			}
		}
	}
	return nil
}
