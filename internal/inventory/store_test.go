package inventory_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/kube"
	"github.com/envctl/envctl/internal/object"
	"github.com/envctl/envctl/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

func makeInventory(env string, n int) *inventory.Inventory {
	inv := &inventory.Inventory{
		Environment: env,
		Revision:    "rev-1",
		AppliedAt:   time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		Components:  []string{"platform", "serving"},
		Entries:     []inventory.Entry{},
	}
	for i := range n {
		inv.Entries = append(inv.Entries, inventory.Entry{
			Ref:       object.Ref{Version: "v1", Kind: "ConfigMap", Namespace: fmt.Sprintf("ns-%d", i%10), Name: fmt.Sprintf("cm-%05d", i)},
			Component: inv.Components[i%2],
			// SHA-256 hex hashes, as real entries carry; they barely compress.
			Digest: hash("digest", i),
			Fields: hash("fields", i),
		})
	}
	inv.Sort()
	return inv
}

func hash(what string, i int) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s-%d", what, i))
	return hex.EncodeToString(sum[:])
}

// store returns a Store in a namespace of its own.
func store(t testing.TB) (*inventory.Store, kubernetes.Interface, *kube.Counter) {
	t.Helper()
	env := testenv.Get(t)
	cfg, counter := kube.CountingConfig(env.RESTConfig())
	client, err := kube.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &inventory.Store{Client: client.Clientset, Namespace: env.Namespace(t)}, env.Clientset(), counter
}

func shardNames(t testing.TB, cs kubernetes.Interface, ns, env string) []string {
	t.Helper()
	list, err := cs.CoreV1().ConfigMaps(ns).List(context.Background(), metav1.ListOptions{LabelSelector: inventory.LabelInventory + "=" + env})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, cm := range list.Items {
		names = append(names, cm.Name)
	}
	return names
}

func TestSaveLoadRoundTrip(t *testing.T) {
	s, cs, _ := store(t)
	ctx := t.Context()
	if _, err := s.Load(ctx, "rt"); !errors.Is(err, inventory.ErrNotFound) {
		t.Fatalf("Load before any Save: err = %v, want ErrNotFound", err)
	}
	inv := makeInventory("rt", 25)
	wrote, err := s.Save(ctx, inv)
	if err != nil || !wrote {
		t.Fatalf("Save = %v, %v; want a write", wrote, err)
	}
	got, err := s.Load(ctx, "rt")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(inv, got); diff != "" {
		t.Errorf("loaded inventory (-saved +loaded):\n%s", diff)
	}
	if names := shardNames(t, cs, s.Namespace, "rt"); !cmp.Equal(names, []string{"envctl-inventory-rt"}) {
		t.Errorf("ConfigMaps = %v", names)
	}
	// Another environment's inventory is separate.
	if _, err := s.Load(ctx, "other"); !errors.Is(err, inventory.ErrNotFound) {
		t.Errorf("Load of another environment: %v", err)
	}
}

func TestLargeInventoryIsSharded(t *testing.T) {
	s, cs, _ := store(t)
	ctx := t.Context()
	big := makeInventory("big", 20000)
	if _, err := s.Save(ctx, big); err != nil {
		t.Fatal(err)
	}
	names := shardNames(t, cs, s.Namespace, "big")
	if len(names) < 2 {
		t.Fatalf("20,000 entries are in %d ConfigMap(s), want several", len(names))
	}
	got, err := s.Load(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(big, got); diff != "" {
		t.Errorf("loaded inventory differs (-saved +loaded):\n%s", diff)
	}

	// Shrinking it removes the shards it no longer needs.
	small := makeInventory("big", 3)
	small.Version = big.Version
	if _, err := s.Save(ctx, small); err != nil {
		t.Fatal(err)
	}
	if names := shardNames(t, cs, s.Namespace, "big"); !cmp.Equal(names, []string{"envctl-inventory-big"}) {
		t.Errorf("after shrinking, ConfigMaps = %v, want only the first shard", names)
	}
	if got, err := s.Load(ctx, "big"); err != nil || len(got.Entries) != 3 {
		t.Fatalf("Load after shrinking: %v entries, %v", len(got.Entries), err)
	}
}

func TestUnchangedSaveMakesNoWrite(t *testing.T) {
	s, _, counter := store(t)
	ctx := t.Context()
	inv := makeInventory("same", 100)
	if _, err := s.Save(ctx, inv); err != nil {
		t.Fatal(err)
	}
	before := counter.Snapshot()
	again := makeInventory("same", 100)
	again.AppliedAt = again.AppliedAt.Add(time.Hour) // a later run that changed nothing
	again.Version = inv.Version
	wrote, err := s.Save(ctx, again)
	if err != nil {
		t.Fatal(err)
	}
	d := counter.Snapshot().Sub(before)
	if wrote || d.Writes != 0 {
		t.Errorf("unchanged Save wrote (reported %v): %d writes %v", wrote, d.Writes, d.WritePaths)
	}
	if d.Requests != 1 {
		t.Errorf("unchanged Save made %d requests, want 1 LIST", d.Requests)
	}
	got, err := s.Load(ctx, "same")
	if err != nil {
		t.Fatal(err)
	}
	if !got.AppliedAt.Equal(inv.AppliedAt) {
		t.Errorf("AppliedAt = %v, want the stored %v kept", got.AppliedAt, inv.AppliedAt)
	}

	// A changed entry is written.
	again.Entries[0].Fields = "drifted"
	if wrote, err := s.Save(ctx, again); err != nil || !wrote {
		t.Errorf("changed Save = %v, %v; want a write", wrote, err)
	}
}

func TestCorruptInventoryNamesTheConfigMap(t *testing.T) {
	s, cs, _ := store(t)
	ctx := t.Context()
	if _, err := s.Save(ctx, makeInventory("bad", 5)); err != nil {
		t.Fatal(err)
	}
	cms := cs.CoreV1().ConfigMaps(s.Namespace)
	cm, err := cms.Get(ctx, "envctl-inventory-bad", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range cm.BinaryData {
		v[len(v)/2] ^= 0xff
		cm.BinaryData[k] = v
	}
	if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = s.Load(ctx, "bad")
	var ce *inventory.CorruptError
	if !errors.As(err, &ce) {
		t.Fatalf("Load of a corrupt inventory: %v, want a CorruptError", err)
	}
	if want := s.Namespace + "/envctl-inventory-bad"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name %s", err, want)
	}
	// Saving over the version it is stored at repairs it.
	repair := makeInventory("bad", 5)
	if repair.Version, err = s.Version(ctx, "bad"); err != nil || repair.Version == "" {
		t.Fatalf("Version of the damaged inventory = %q, %v", repair.Version, err)
	}
	if _, err := s.Save(ctx, repair); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, "bad"); err != nil {
		t.Errorf("Load after repair: %v", err)
	}
}

func TestDefaultNamespaceCreatedAndRemoved(t *testing.T) {
	env := testenv.Get(t)
	cs := env.Clientset()
	s := inventory.NewStore(cs)
	ctx := t.Context()
	if _, err := s.Save(ctx, makeInventory("nsdefault", 2)); err != nil {
		t.Fatal(err)
	}
	ns, err := cs.CoreV1().Namespaces().Get(ctx, inventory.Namespace, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("namespace %s not created: %v", inventory.Namespace, err)
	}
	if ns.Labels["envctl.dev/managed-by"] != "envctl" {
		t.Errorf("namespace labels = %v", ns.Labels)
	}
	if err := s.Delete(ctx, "nsdefault"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, "nsdefault"); !errors.Is(err, inventory.ErrNotFound) {
		t.Errorf("Load after Delete: %v", err)
	}
	// No other inventory remains, so the namespace goes too, and Delete
	// waited for it.
	if _, err = cs.CoreV1().Namespaces().Get(ctx, inventory.Namespace, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace %s after the last inventory was deleted: %v, want not found", inventory.Namespace, err)
	}
	// Deleting again is not an error.
	if err := s.Delete(ctx, "nsdefault"); err != nil {
		t.Errorf("second Delete: %v", err)
	}

	// A Save while the namespace is terminating (another environment's
	// down) waits for it to go and creates it again.
	if _, err := s.Save(ctx, makeInventory("nsfirst", 2)); err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().Namespaces().Delete(ctx, inventory.Namespace, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(ctx, makeInventory("nssecond", 2)); err != nil {
		t.Fatalf("Save into a terminating namespace: %v", err)
	}
	if _, err := s.Load(ctx, "nssecond"); err != nil {
		t.Errorf("Load after saving into a recreated namespace: %v", err)
	}
	if err := s.Delete(ctx, "nssecond"); err != nil {
		t.Fatal(err)
	}
}
