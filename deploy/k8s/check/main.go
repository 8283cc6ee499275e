// Command check is the schema check of the rendered Kubernetes manifests
// (deploy/check.sh runs it on `kubectl kustomize` output): every document
// must decode strictly (no unknown or misplaced field, every value of the
// right type) into the Kubernetes API type its apiVersion and kind name,
// or into the Prometheus Operator's types for ServiceMonitor and
// PrometheusRule. It needs no cluster, and no schema download: the types
// come from k8s.io/api and the operator's Go module.
//
//	kubectl kustomize deploy/k8s/base | go run . -
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// types maps apiVersion/kind to a new value of its Go type.
var types = map[string]func() any{
	"v1/Namespace":                            func() any { return &corev1.Namespace{} },
	"v1/ConfigMap":                            func() any { return &corev1.ConfigMap{} },
	"v1/Secret":                               func() any { return &corev1.Secret{} },
	"v1/Service":                              func() any { return &corev1.Service{} },
	"v1/PersistentVolumeClaim":                func() any { return &corev1.PersistentVolumeClaim{} },
	"apps/v1/Deployment":                      func() any { return &appsv1.Deployment{} },
	"apps/v1/StatefulSet":                     func() any { return &appsv1.StatefulSet{} },
	"apps/v1/DaemonSet":                       func() any { return &appsv1.DaemonSet{} },
	"autoscaling/v2/HorizontalPodAutoscaler":  func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"networking.k8s.io/v1/Ingress":            func() any { return &networkingv1.Ingress{} },
	"monitoring.coreos.com/v1/ServiceMonitor": func() any { return &monitoringv1.ServiceMonitor{} },
	"monitoring.coreos.com/v1/PrometheusRule": func() any { return &monitoringv1.PrometheusRule{} },
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: check FILE|-   (rendered multi-document YAML)")
		os.Exit(2)
	}
	var in io.Reader = os.Stdin
	if os.Args[1] != "-" {
		f, err := os.Open(os.Args[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		defer f.Close()
		in = f
	}
	n, errs := check(in)
	for _, err := range errs {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
	}
	if len(errs) > 0 || n == 0 {
		if n == 0 {
			fmt.Fprintln(os.Stderr, "FAIL: no document to check")
		}
		os.Exit(1)
	}
	fmt.Printf("%d documents match their Kubernetes API types\n", n)
}

func check(in io.Reader) (int, []error) {
	var errs []error
	n := 0
	for i, doc := range splitDocs(in) {
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &head); err != nil {
			errs = append(errs, fmt.Errorf("document %d: not YAML: %w", i+1, err))
			continue
		}
		name := fmt.Sprintf("%s %s/%s", head.APIVersion, head.Kind, head.Metadata.Name)
		mk, ok := types[head.APIVersion+"/"+head.Kind]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: no type known for this apiVersion and kind", name))
			continue
		}
		obj := mk()
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		if head.Metadata.Name == "" {
			errs = append(errs, fmt.Errorf("%s: metadata.name is empty", name))
		}
		errs = append(errs, semantic(name, obj)...)
		n++
	}
	return n, errs
}

// semantic adds the checks a strict decode cannot make and a real API
// server would: selectors that match their pod templates, probe and
// service ports that name a container port, images with a pinned tag.
func semantic(name string, obj any) []error {
	var errs []error
	pod := func(sel map[string]string, tmpl corev1.PodTemplateSpec, claims ...string) {
		for k, v := range sel {
			if tmpl.Labels[k] != v {
				errs = append(errs, fmt.Errorf("%s: selector %s=%s does not match the pod template's labels", name, k, v))
			}
		}
		for _, c := range append(tmpl.Spec.InitContainers, tmpl.Spec.Containers...) {
			if c.Image == "" || strings.HasSuffix(c.Image, ":latest") || !strings.Contains(c.Image[strings.LastIndex(c.Image, "/")+1:], ":") {
				errs = append(errs, fmt.Errorf("%s: container %s image %q has no pinned tag", name, c.Name, c.Image))
			}
			ports := map[string]bool{}
			for _, p := range c.Ports {
				ports[p.Name] = true
			}
			for _, pr := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
				if pr == nil {
					continue
				}
				var port *intstr.IntOrString
				if pr.HTTPGet != nil {
					port = &pr.HTTPGet.Port
				} else if pr.TCPSocket != nil {
					port = &pr.TCPSocket.Port
				}
				if port != nil && port.Type == intstr.String && !ports[port.StrVal] {
					errs = append(errs, fmt.Errorf("%s: container %s probes port %q, which it does not declare", name, c.Name, port.StrVal))
				}
			}
			vols := map[string]bool{}
			for _, c := range claims {
				vols[c] = true
			}
			for _, v := range tmpl.Spec.Volumes {
				vols[v.Name] = true
			}
			for _, m := range c.VolumeMounts {
				if !vols[m.Name] {
					errs = append(errs, fmt.Errorf("%s: container %s mounts volume %q, which the pod does not define", name, c.Name, m.Name))
				}
			}
		}
	}
	switch o := obj.(type) {
	case *appsv1.Deployment:
		pod(o.Spec.Selector.MatchLabels, o.Spec.Template)
	case *appsv1.StatefulSet:
		var claims []string
		for _, c := range o.Spec.VolumeClaimTemplates {
			claims = append(claims, c.Name)
		}
		pod(o.Spec.Selector.MatchLabels, o.Spec.Template, claims...)
	case *appsv1.DaemonSet:
		pod(o.Spec.Selector.MatchLabels, o.Spec.Template)
	}
	return errs
}

// splitDocs splits multi-document YAML on "---" lines, dropping empty ones.
func splitDocs(in io.Reader) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	flush := func() {
		if len(bytes.TrimSpace(cur.Bytes())) > 0 {
			docs = append(docs, append([]byte(nil), cur.Bytes()...))
		}
		cur.Reset()
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		if strings.TrimRight(sc.Text(), " ") == "---" {
			flush()
			continue
		}
		cur.WriteString(sc.Text())
		cur.WriteByte('\n')
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
		fmt.Fprintln(os.Stderr, "reading:", err)
		os.Exit(2)
	}
	flush()
	return docs
}
