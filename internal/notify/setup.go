package notify

import (
	"log/slog"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/envctl/envctl/internal/syncstate"
)

// Setup is what a loop's command knows when it starts its notifications.
type Setup struct {
	// Notifiers are those Flags.Build returned.
	Notifiers []Notifier
	// Events records Kubernetes Events; Repeat is the repeat interval.
	Events bool
	Repeat time.Duration
	// Client, Environment and Holder place the Kubernetes Events: on the
	// environment's sync record, reported by Holder.
	Client      kubernetes.Interface
	Environment string
	Holder      string
	Count       func(notifier, result string)
	Logger      *slog.Logger
}

// Start starts a Hub with the notifiers and, unless --events=false, the
// Kubernetes Event recorder.
func (s Setup) Start() *Hub {
	ns := s.Notifiers
	log := s.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	o := HubOptions{Notifiers: ns, Repeat: s.Repeat, Count: s.Count, Logger: log}
	if s.Events {
		o.Recorder = NewKubeEvents(s.Client, syncstate.Namespace, syncstate.ConfigMapName(s.Environment), s.Holder, log)
	}
	LogEnabled(log, ns, s.Events)
	return NewHub(o)
}
