package embedded

import (
	"context"
	"log/slog"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDemoteHandler(t *testing.T) {
	var got []string
	h := demoteHandler{next: recordHandler{level: slog.LevelDebug, got: &got}}
	logger := slog.New(h)
	logger.Info("klog info")                          // -> below debug: dropped
	logger.Error("klog error")                        // -> debug
	logger.Log(context.Background(), -1, "klog V(1)") // -> further below: dropped
	if diff := cmp.Diff([]string{"DEBUG klog error"}, got); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
}

type recordHandler struct {
	level slog.Level
	got   *[]string
}

func (h recordHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }
func (h recordHandler) Handle(_ context.Context, r slog.Record) error {
	*h.got = append(*h.got, r.Level.String()+" "+r.Message)
	return nil
}
func (h recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h recordHandler) WithGroup(string) slog.Handler      { return h }
