package engine

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/kube"
	"github.com/envctl/envctl/internal/ownership"
	"github.com/envctl/envctl/internal/render"
)

// The benchmarks apply 1,000 generated objects: 10 namespaces, each with
// 33 ConfigMaps, 33 Deployments and 33 Services. Deployments have zero
// replicas, so that the objects fit any node capacity and the no-op
// benchmark can wait for health; what is measured is envctl's apply path.
const (
	benchNamespaces = 10
	benchPerKind    = 33
)

var benchSeq atomic.Int64

// generate returns the objects of one benchmark environment, in fresh
// namespaces named after prefix.
func generate(env, prefix string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	label := func(u *unstructured.Unstructured) *unstructured.Unstructured {
		u.SetLabels(map[string]string{
			ownership.LabelManagedBy:   ownership.ManagedByValue,
			ownership.LabelEnvironment: env,
			ownership.LabelComponent:   "bench",
		})
		return u
	}
	for n := range benchNamespaces {
		ns := fmt.Sprintf("%s-%d", prefix, n)
		out = append(out, label(&unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns},
		}}))
		for i := range benchPerKind {
			name := fmt.Sprintf("app-%d", i)
			out = append(out, label(&unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "v1", "kind": "ConfigMap",
				"metadata": map[string]any{"name": name, "namespace": ns},
				"data":     map[string]any{"config.yaml": fmt.Sprintf("replicas: 0\nindex: %d\nmodel: resnet-%d\n", i, i)},
			}}))
			appLabels := map[string]any{"app": name}
			out = append(out, label(&unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "apps/v1", "kind": "Deployment",
				"metadata": map[string]any{"name": name, "namespace": ns},
				"spec": map[string]any{
					"replicas": int64(0),
					"selector": map[string]any{"matchLabels": appLabels},
					"template": map[string]any{
						"metadata": map[string]any{"labels": appLabels},
						"spec": map[string]any{"containers": []any{map[string]any{
							"name": "app", "image": "registry.example.com/app:1",
							"ports":     []any{map[string]any{"containerPort": int64(8080)}},
							"resources": map[string]any{"requests": map[string]any{"cpu": "10m", "memory": "16Mi"}},
						}}},
					},
				},
			}}))
			out = append(out, label(&unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "v1", "kind": "Service",
				"metadata": map[string]any{"name": name, "namespace": ns},
				"spec": map[string]any{
					"selector": appLabels,
					"ports":    []any{map[string]any{"port": int64(80), "targetPort": int64(8080)}},
				},
			}}))
		}
	}
	return out
}

func benchOptions(b testing.TB, client *kube.Client, env string, objs []*unstructured.Unstructured) runOptions {
	b.Helper()
	return runOptions{
		Environment: &config.Environment{Metadata: config.Metadata{Name: env}, Spec: config.EnvironmentSpec{Components: []config.Component{{Name: "bench"}}}},
		Settings:    config.DefaultSettings(),
		Revision:    "bench",
		Render: func(context.Context, *inventory.Inventory) (*render.Result, error) {
			return &render.Result{Environment: env, Components: []*render.Component{{Name: "bench", Objects: objs}}}, nil
		},
		Client: client,
		Policy: Policy{Timeout: 3 * time.Minute},
	}
}

// plainClient is a client whose requests are not counted, for reading the
// API server's metrics around a window.
func plainClient(b *testing.B) *kube.Client {
	b.Helper()
	client, err := kube.New(testConfig(b))
	if err != nil {
		b.Fatal(err)
	}
	return client
}

func countingClient(b *testing.B) (*kube.Client, *kube.Counter) {
	b.Helper()
	cfg, counter := kube.CountingConfig(testConfig(b))
	client, err := kube.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return client, counter
}

// deleteNamespaces removes the benchmark namespaces of prefix and waits
// until they are gone, outside the timer, so that one iteration's objects
// neither slow the next one's LISTs nor have their deletion compete with it.
func deleteNamespaces(b testing.TB, client *kube.Client, prefix string) {
	b.Helper()
	ctx := context.Background()
	nss := client.Clientset.CoreV1().Namespaces()
	for n := range benchNamespaces {
		err := nss.Delete(ctx, fmt.Sprintf("%s-%d", prefix, n), metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			b.Fatal(err)
		}
	}
	deadline := time.Now().Add(3 * time.Minute)
	for n := range benchNamespaces {
		for {
			_, err := nss.Get(ctx, fmt.Sprintf("%s-%d", prefix, n), metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("benchmark namespaces of %s not gone after 3 minutes", prefix)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

func reportRequests(b *testing.B, s kube.Snapshot) {
	b.ReportMetric(float64(s.Writes)/float64(b.N), "writes/op")
	b.ReportMetric(float64(s.Requests)/float64(b.N), "requests/op")
}

// BenchmarkFirstApply1000 applies the 1,000 objects with the engine, into
// fresh namespaces each iteration, without waiting for health (the baseline
// does not wait either). Why it is only 1.2 to 1.3 times as fast as
// BenchmarkBaselineSequentialApply1000 on a 2-core machine, and not 3 times
// as issue 4 asks, is explained there.
func BenchmarkFirstApply1000(b *testing.B) {
	client, counter := countingClient(b)
	w := newWindow(b, plainClient(b))
	var total kube.Snapshot
	for b.Loop() {
		b.StopTimer()
		id := benchSeq.Add(1)
		env := fmt.Sprintf("bench-first-%d", id)
		prefix := fmt.Sprintf("bf%d", id)
		objs := generate(env, prefix)
		opts := benchOptions(b, client, env, objs)
		opts.NoWait = true
		before := counter.Snapshot()
		w.start()
		b.StartTimer()
		res, err := reconcile(context.Background(), opts)
		b.StopTimer()
		w.stop()
		if err != nil {
			b.Fatal(err)
		}
		if got := res.Components[0].Counts.Created; got != len(objs) {
			b.Fatalf("created %d objects, want %d", got, len(objs))
		}
		d := counter.Snapshot().Sub(before)
		total.Writes += d.Writes
		total.Requests += d.Requests
		deleteNamespaces(b, client, prefix)
		b.StartTimer()
	}
	reportRequests(b, total)
	w.report()
}

// BenchmarkNoOpReconcile1000 reconciles the 1,000 objects when nothing
// changed, health wait included, and fails on any write.
func BenchmarkNoOpReconcile1000(b *testing.B) {
	client, counter := countingClient(b)
	id := benchSeq.Add(1)
	env := fmt.Sprintf("bench-noop-%d", id)
	prefix := fmt.Sprintf("bn%d", id)
	objs := generate(env, prefix)
	opts := benchOptions(b, client, env, objs)
	if _, err := reconcile(context.Background(), opts); err != nil {
		b.Fatalf("setup: %v", err)
	}
	b.Cleanup(func() { deleteNamespaces(b, client, prefix) })
	w := newWindow(b, plainClient(b))
	before := counter.Snapshot()
	for b.Loop() {
		b.StopTimer()
		w.start()
		b.StartTimer()
		res, err := reconcile(context.Background(), opts)
		b.StopTimer()
		w.stop()
		b.StartTimer()
		if err != nil {
			b.Fatal(err)
		}
		if got := res.Components[0].Counts.Unchanged; got != len(objs) {
			b.Fatalf("%d unchanged, want %d", got, len(objs))
		}
	}
	d := counter.Snapshot().Sub(before)
	if d.Writes != 0 {
		b.Fatalf("no-op reconcile wrote %d times: %v", d.Writes, d.WritePaths[:min(5, len(d.WritePaths))])
	}
	reportRequests(b, d)
	w.report()
}

// BenchmarkBaselineSequentialApply1000 applies the same objects the plain
// way: one client-go server-side apply after the other, with the same
// client rate limits as envctl's.
//
// Issue 4 asks for envctl's first apply to be at least 3 times as fast as
// this. On the 2-core machine it is 1.2 to 1.3 times as fast (medians of 5
// in three sessions: 3.8-4.0 s against 4.6-5.2 s), and no client can do
// much better there, for these measured reasons:
//
//   - The API server's work is the same whichever client sends the
//     objects, and it is nearly all of the work. The control plane runs in
//     the test process; the process spends 7.5-8.2 CPU-seconds on envctl's
//     1,000 objects and 8.6-10 on the baseline's (cpu-s/op; the baseline's
//     longer window holds more of the controllers' catch-up). envctl's own
//     code (digest, encode, decode, bookkeeping) is about 0.2 of them in a
//     CPU profile of the window (-window.cpuprofile), as the baseline's
//     client is.
//   - The 1,000 writes are not all the server does: its controllers react
//     with about 2,600 writes of their own in the same window
//     (server-writes/op is about 3,600 for both): a ReplicaSet and its
//     status and about three status updates per Deployment, an Endpoints,
//     an EndpointSlice and a ClusterIP allocation per Service, and a
//     ServiceAccount and a root CA ConfigMap per namespace.
//   - So the baseline is not one core waiting on round trips: while its
//     one request is served on one core, the controllers' work runs on the
//     other, and it keeps 1.9 cores busy (cores). envctl keeps 1.98 busy:
//     16 requests are in flight for the whole apply (15-15.5 on average,
//     no barrier after the 10 Namespaces, which take 30 ms), and 4, 8 or 32
//     in flight give the same time.
//
// With both runs CPU-bound on the same work, the ratio is about the ratio
// of the CPU-seconds; 3 times would need envctl's objects to cost the
// control plane a third of what the baseline's cost, or a control plane
// on cores of its own. Even with no controllers at all the bound would be
// about 2: a sequential client keeps at most one core busy with work a
// concurrent one spreads over two, and only time the sequential client
// spends waiting on no CPU (it spends almost none: the process is busy
// 1.9 of 2 cores) could be won back beyond that. What does shorten both is less garbage collection
// in the control plane (with GOGC=200 both runs take about 15% less time,
// with 300 about 19%; an idle cluster then holds about 450 MiB instead of
// 330), not a different client.
func BenchmarkBaselineSequentialApply1000(b *testing.B) {
	cfg, counter := kube.CountingConfig(kube.Tune(testConfig(b)))
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	client, err := kube.New(testConfig(b))
	if err != nil {
		b.Fatal(err)
	}
	w := newWindow(b, client)
	var total kube.Snapshot
	for b.Loop() {
		b.StopTimer()
		id := benchSeq.Add(1)
		prefix := fmt.Sprintf("bb%d", id)
		objs := generate(fmt.Sprintf("bench-base-%d", id), prefix)
		before := counter.Snapshot()
		ctx := context.Background()
		w.start()
		b.StartTimer()
		for _, o := range objs {
			mapping, err := client.Mapper.Mapping(ctx, o.GroupVersionKind())
			if err != nil {
				b.Fatal(err)
			}
			res := dyn.Resource(mapping.Resource)
			var ri dynamic.ResourceInterface = res
			if ns := o.GetNamespace(); ns != "" {
				ri = res.Namespace(ns)
			}
			if _, err := ri.Apply(ctx, o.GetName(), o, metav1.ApplyOptions{FieldManager: "baseline", Force: true}); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		w.stop()
		d := counter.Snapshot().Sub(before)
		total.Writes += d.Writes
		total.Requests += d.Requests
		deleteNamespaces(b, client, prefix)
		b.StartTimer()
	}
	reportRequests(b, total)
	w.report()
}
