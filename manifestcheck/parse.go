package manifestcheck

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// A Workload is a Kubernetes object that runs pods, reduced to what the
// checks read.
type Workload struct {
	Kind      string // "Deployment", "Pod", ...
	Namespace string // empty when the manifest leaves it to kubectl's context
	Name      string
	Document  int // position in the stream, from 1, counting non-empty documents
	Spec      corev1.PodSpec
}

// String returns "Kind/namespace/name", or "Kind/name" when the manifest sets
// no namespace.
func (w Workload) String() string {
	if w.Namespace == "" {
		return w.Kind + "/" + w.Name
	}
	return w.Kind + "/" + w.Namespace + "/" + w.Name
}

// decoder decodes one document of a known kind strictly and returns its
// metadata and pod spec.
type decoder func(doc []byte) (metav1.ObjectMeta, corev1.PodSpec, error)

// decodeAs makes the decoder of type T; spec picks the pod spec out of it.
func decodeAs[T any](spec func(*T) (*metav1.ObjectMeta, *corev1.PodSpec)) decoder {
	return func(doc []byte) (metav1.ObjectMeta, corev1.PodSpec, error) {
		obj := new(T)
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			return metav1.ObjectMeta{}, corev1.PodSpec{}, err
		}
		m, s := spec(obj)
		return *m, *s, nil
	}
}

// decoders holds the kinds [Parse] reads, by "apiVersion kind".
var decoders = map[string]decoder{
	"v1 Pod": decodeAs(func(o *corev1.Pod) (*metav1.ObjectMeta, *corev1.PodSpec) {
		return &o.ObjectMeta, &o.Spec
	}),
	"apps/v1 Deployment": decodeAs(func(o *appsv1.Deployment) (*metav1.ObjectMeta, *corev1.PodSpec) {
		return &o.ObjectMeta, &o.Spec.Template.Spec
	}),
	"apps/v1 StatefulSet": decodeAs(func(o *appsv1.StatefulSet) (*metav1.ObjectMeta, *corev1.PodSpec) {
		return &o.ObjectMeta, &o.Spec.Template.Spec
	}),
	"apps/v1 DaemonSet": decodeAs(func(o *appsv1.DaemonSet) (*metav1.ObjectMeta, *corev1.PodSpec) {
		return &o.ObjectMeta, &o.Spec.Template.Spec
	}),
	"apps/v1 ReplicaSet": decodeAs(func(o *appsv1.ReplicaSet) (*metav1.ObjectMeta, *corev1.PodSpec) {
		return &o.ObjectMeta, &o.Spec.Template.Spec
	}),
	"batch/v1 Job": decodeAs(func(o *batchv1.Job) (*metav1.ObjectMeta, *corev1.PodSpec) {
		return &o.ObjectMeta, &o.Spec.Template.Spec
	}),
	"batch/v1 CronJob": decodeAs(func(o *batchv1.CronJob) (*metav1.ObjectMeta, *corev1.PodSpec) {
		return &o.ObjectMeta, &o.Spec.JobTemplate.Spec.Template.Spec
	}),
}

// list is a v1 List, as kubectl get -o yaml prints several objects.
type list struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []json.RawMessage `json:"items"`
}

// Parse decodes the YAML (or JSON) documents in data, separated by "---"
// lines, and returns the workloads among them and how many objects of other
// kinds it skipped. Documents holding only comments are ignored; the items
// of a v1 List are read as objects of their own.
//
// Workloads are decoded strictly into the k8s.io/api types: an unknown or
// misspelt field, a duplicate field or a value of the wrong type is an
// error, as is a document that is not a mapping with apiVersion and kind.
// Parse does not check what the API server would validate (names, required
// fields, ranges), and it reads only apps/v1, batch/v1 and v1: a Deployment
// of another apiVersion counts as skipped.
func Parse(data []byte) (ws []Workload, skipped int, err error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	n := 0
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return ws, skipped, nil
		}
		if err != nil {
			return nil, 0, fmt.Errorf("manifestcheck: after document %d: %w", n, err)
		}
		var v any
		if err := yaml.Unmarshal(doc, &v); err == nil && v == nil {
			continue // comments only
		}
		n++
		got, s, err := parseObject(doc, n, true)
		if err != nil {
			return nil, 0, fmt.Errorf("manifestcheck: document %d: %w", n, err)
		}
		ws, skipped = append(ws, got...), skipped+s
	}
}

// parseObject decodes one object; a List's items are parsed in turn when
// listOK, as a List does not nest.
func parseObject(doc []byte, n int, listOK bool) ([]Workload, int, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return nil, 0, fmt.Errorf("not a Kubernetes object: %w", err)
	}
	if tm.APIVersion == "" || tm.Kind == "" {
		return nil, 0, errors.New("not a Kubernetes object: apiVersion or kind is missing")
	}
	key := tm.APIVersion + " " + tm.Kind
	if key == "v1 List" && listOK {
		return parseList(doc, n)
	}
	decode, ok := decoders[key]
	if !ok {
		return nil, 1, nil
	}
	meta, spec, err := decode(doc)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", key, err)
	}
	return []Workload{{Kind: tm.Kind, Namespace: meta.Namespace, Name: meta.Name, Document: n, Spec: spec}}, 0, nil
}

func parseList(doc []byte, n int) ([]Workload, int, error) {
	var l list
	if err := yaml.UnmarshalStrict(doc, &l); err != nil {
		return nil, 0, fmt.Errorf("v1 List: %w", err)
	}
	var ws []Workload
	skipped := 0
	for i, item := range l.Items {
		got, s, err := parseObject(item, n, false)
		if err != nil {
			return nil, 0, fmt.Errorf("v1 List item %d: %w", i, err)
		}
		ws, skipped = append(ws, got...), skipped+s
	}
	return ws, skipped, nil
}
