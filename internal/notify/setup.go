package notify

import (
	"log/slog"

	"k8s.io/client-go/kubernetes"

	"github.com/envctl/envctl/internal/syncstate"
)

// Setup is what a loop's command knows when it starts its notifications.
type Setup struct {
	Flags *Flags
	// GitURL is the --git repository ("" for a local one).
	GitURL string
	// Client, Environment and Holder place the Kubernetes Events: on the
	// environment's sync record, reported by Holder.
	Client      kubernetes.Interface
	Environment string
	Holder      string
	// Lookup reads the variables (os.LookupEnv when nil).
	Lookup func(string) (string, bool)
	Count  func(notifier, result string)
	Logger *slog.Logger
}

// Start builds the notifiers the flags enable and starts a Hub with them
// and, unless --events=false, the Kubernetes Event recorder.
func (s Setup) Start() (*Hub, error) {
	ns, err := s.Flags.Build(s.GitURL, s.Lookup)
	if err != nil {
		return nil, err
	}
	log := s.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	o := HubOptions{Notifiers: ns, Repeat: s.Flags.Repeat, Count: s.Count, Logger: log}
	if s.Flags.Events {
		o.Recorder = NewKubeEvents(s.Client, syncstate.Namespace, syncstate.ConfigMapName(s.Environment), s.Holder, log)
	}
	LogEnabled(log, ns, s.Flags.Events)
	return NewHub(o), nil
}
