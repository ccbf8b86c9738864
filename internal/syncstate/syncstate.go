// Package syncstate is the record, in the cluster, of the continuous
// reconcile loop of one environment (envctl sync or envctl daemon): the
// status the loop writes, so that `envctl status` shows it from any
// laptop, and the requests other commands write for the loop to act on
// (`envctl reconcile`, `suspend`, `resume`, and a webhook that reached a
// standby replica). Both live on one ConfigMap, envctl-sync-ENV in
// envctl-system or the environment's own namespace (inventory.Locate), each side writing its own fields with server-side apply
// under its own field manager, so neither ever overwrites the other.
package syncstate

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/ownership"
)

// Namespace is where the records of environments without a namespace of
// their own live; see inventory.Locate.
const Namespace = inventory.Namespace

// Annotations by which other commands ask the loop for something.
const (
	// AnnotationReconcile holds a token; a new token asks for a full
	// reconcile now, and the loop answers in Status.Reconcile.
	AnnotationReconcile = "envctl.dev/reconcile-requested"
	// AnnotationSuspend set to "true" pauses the loop.
	AnnotationSuspend = "envctl.dev/suspended"
	// AnnotationFetch holds a token; a new one asks the leader to list the
	// source's refs now (a webhook that reached a standby).
	AnnotationFetch = "envctl.dev/fetch-requested"
)

// LabelEnvironment marks the ConfigMap with its environment.
const LabelEnvironment = "envctl.dev/sync"

// Field managers of the record's writers.
const (
	managerStatus    = "envctl-sync-status"
	managerReconcile = "envctl-reconcile"
	managerSuspend   = "envctl-suspend"
	managerFetch     = "envctl-fetch-request"
)

const dataKey = "status.json"

// ConfigMapName is the name of env's record.
func ConfigMapName(env string) string { return "envctl-sync-" + env }

// Status is what the loop reports about itself.
type Status struct {
	Environment string `json:"environment"`
	// Holder is the process that runs the loop: "envctl daemon (pid 1 on
	// envctl-7c9f-x2x)".
	Holder string `json:"holder"`
	// Mode is sync or daemon.
	Mode string `json:"mode"`
	// Source names where the declared state comes from.
	Source string `json:"source"`
	// Since is when the holder started reconciling.
	Since time.Time `json:"since"`
	// Running is false once the holder stopped cleanly (StoppedAt).
	Running   bool      `json:"running"`
	StoppedAt time.Time `json:"stoppedAt,omitzero"`
	Suspended bool      `json:"suspended"`
	DriftMode string    `json:"driftMode"`

	LastAppliedRevision   string    `json:"lastAppliedRevision,omitempty"`
	LastAppliedAt         time.Time `json:"lastAppliedAt,omitzero"`
	LastAttemptedRevision string    `json:"lastAttemptedRevision,omitempty"`
	LastAttemptAt         time.Time `json:"lastAttemptAt,omitzero"`
	// LastError is the last attempt's error, empty once one succeeds.
	LastError string `json:"lastError,omitempty"`
	// LastErrorKind is errs.Kind's name for it, so that `envctl reconcile`
	// exits as the command that failed would have.
	LastErrorKind string `json:"lastErrorKind,omitempty"`
	// State tells a loop that converged from one that is failing: see the
	// State constants. Empty until the first attempt ends.
	State string `json:"state,omitempty"`
	// Failures counts the failed attempts in a row at the last attempted
	// revision.
	Failures int `json:"failures,omitempty"`
	// NextAttemptAt is when a failure that may pass is tried again.
	NextAttemptAt time.Time `json:"nextAttemptAt,omitzero"`

	DriftDetected  int64 `json:"driftDetected"`
	DriftCorrected int64 `json:"driftCorrected"`
	Fights         int64 `json:"fights"`
	// DriftConflicts counts declared objects found labelled for another
	// environment, which are not corrected.
	DriftConflicts int64 `json:"driftConflicts,omitempty"`
	// LeftAlone lists the objects whose fight with another writer the
	// loop gave up, with whom: they are not corrected until a new
	// revision is applied or a reconcile is requested.
	LeftAlone []string `json:"leftAlone,omitempty"`
	// LastDrift describes the last drift seen: object, what, by whom.
	LastDrift   string    `json:"lastDrift,omitempty"`
	LastDriftAt time.Time `json:"lastDriftAt,omitzero"`

	// Reconcile answers the last `envctl reconcile`.
	Reconcile *Answer `json:"reconcile,omitempty"`
}

// States of a loop (Status.State).
const (
	// StateConverged: the last attempt applied the source's revision and
	// every component became healthy.
	StateConverged = "converged"
	// StateRetrying: the last attempt failed in a way that may pass (a
	// registry, the network, the cluster, a timeout, an unhealthy
	// component); it is tried again at NextAttemptAt, with backoff.
	StateRetrying = "retrying"
	// StateBlocked: the source's revision does not render (bad input); it
	// is not tried again until the source moves or `envctl reconcile`
	// asks. The last good revision stays applied.
	StateBlocked = "blocked"
)

// Answer is the outcome of one requested reconcile.
type Answer struct {
	Token     string    `json:"token"`
	Revision  string    `json:"revision,omitempty"`
	Succeeded bool      `json:"succeeded"`
	Error     string    `json:"error,omitempty"`
	ErrorKind string    `json:"errorKind,omitempty"`
	At        time.Time `json:"at"`
}

// Requests are what other commands ask of the loop.
type Requests struct {
	Reconcile string
	Suspended bool
	Fetch     string
}

// RequestsOf reads the requests on the record.
func RequestsOf(cm *corev1.ConfigMap) Requests {
	if cm == nil {
		return Requests{}
	}
	a := cm.Annotations
	return Requests{Reconcile: a[AnnotationReconcile], Suspended: a[AnnotationSuspend] == "true", Fetch: a[AnnotationFetch]}
}

// StatusOf reads the status on the record; nil when the loop never wrote
// one.
func StatusOf(cm *corev1.ConfigMap) (*Status, error) {
	if cm == nil || cm.Data[dataKey] == "" {
		return nil, nil
	}
	var st Status
	if err := json.Unmarshal([]byte(cm.Data[dataKey]), &st); err != nil {
		return nil, fmt.Errorf("ConfigMap %s/%s: %s: %w", cm.Namespace, cm.Name, dataKey, err)
	}
	return &st, nil
}

// Store reads and writes the records.
type Store struct {
	Client kubernetes.Interface
	// Namespace defaults to where the environment's state lives
	// (inventory.Locate).
	Namespace string
}

// Where is the namespace of env's record.
func (s *Store) Where(ctx context.Context, env string) (string, error) {
	if s.Namespace != "" {
		return s.Namespace, nil
	}
	return inventory.Locate(ctx, s.Client, env)
}

// Get reads env's record; nil without an error when there is none.
func (s *Store) Get(ctx context.Context, env string) (*corev1.ConfigMap, error) {
	ns, err := s.Where(ctx, env)
	if err != nil {
		return nil, err
	}
	cm, err := s.Client.CoreV1().ConfigMaps(ns).Get(ctx, ConfigMapName(env), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, errs.Cluster(fmt.Errorf("read the sync record of environment %s: %w", env, err))
	}
	return cm, nil
}

// WriteStatus records st.
func (s *Store) WriteStatus(ctx context.Context, st *Status) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return s.apply(ctx, st.Environment, managerStatus, func(cm *corev1ac.ConfigMapApplyConfiguration) {
		cm.WithData(map[string]string{dataKey: string(b)})
	})
}

// RequestReconcile asks for a full reconcile and returns the token the
// answer will carry.
func (s *Store) RequestReconcile(ctx context.Context, env string) (string, error) {
	token := strconv.FormatInt(time.Now().UnixNano(), 10)
	err := s.apply(ctx, env, managerReconcile, func(cm *corev1ac.ConfigMapApplyConfiguration) {
		cm.WithAnnotations(map[string]string{AnnotationReconcile: token})
	})
	return token, err
}

// RequestFetch asks the leader to list the source's refs now.
func (s *Store) RequestFetch(ctx context.Context, env string) error {
	token := strconv.FormatInt(time.Now().UnixNano(), 10)
	return s.apply(ctx, env, managerFetch, func(cm *corev1ac.ConfigMapApplyConfiguration) {
		cm.WithAnnotations(map[string]string{AnnotationFetch: token})
	})
}

// SetSuspended pauses (true) or resumes (false) env's loop. Resuming
// applies the suspend manager's fields without the annotation, which
// removes it.
func (s *Store) SetSuspended(ctx context.Context, env string, suspended bool) error {
	return s.apply(ctx, env, managerSuspend, func(cm *corev1ac.ConfigMapApplyConfiguration) {
		if suspended {
			cm.WithAnnotations(map[string]string{AnnotationSuspend: "true"})
		}
	})
}

// apply writes one writer's fields of env's record, creating the namespace
// when it is missing.
func (s *Store) apply(ctx context.Context, env, manager string, set func(*corev1ac.ConfigMapApplyConfiguration)) error {
	ns, err := s.Where(ctx, env)
	if err != nil {
		return err
	}
	cm := corev1ac.ConfigMap(ConfigMapName(env), ns).
		WithLabels(map[string]string{LabelEnvironment: env, ownership.LabelManagedBy: ownership.ManagedByValue})
	set(cm)
	opts := metav1.ApplyOptions{FieldManager: manager, Force: true}
	cms := s.Client.CoreV1().ConfigMaps(ns)
	_, err = cms.Apply(ctx, cm, opts)
	if apierrors.IsNotFound(err) {
		if err := inventory.EnsureNamespace(ctx, s.Client, ns); err != nil {
			return err
		}
		_, err = cms.Apply(ctx, cm, opts)
	}
	if err != nil {
		return errs.Cluster(fmt.Errorf("write the sync record of environment %s: %w", env, err))
	}
	return nil
}
