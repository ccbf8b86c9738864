package kind

import (
	"context"
	"fmt"
	"time"

	kindcluster "sigs.k8s.io/kind/pkg/cluster"

	"github.com/envctl/envctl/internal/cluster"
	"github.com/envctl/envctl/internal/errs"
)

// create runs kind's create under ctx's deadline, saying every
// cluster.ReportEvery which of kind's steps it is still at. The record is
// written first, so that a cluster whose creation envctl did not see
// through (a killed process) can still be deleted with envctl.
func (p *Provider) create(ctx context.Context, kp *kindcluster.Provider, log *logger, rec record, cfg *kindcfg, spec cluster.Spec) error {
	if err := p.writeRecord(rec); err != nil {
		return err
	}
	kubeconfigPath, err := p.kindKubeconfig(rec.Name)
	if err != nil {
		return err
	}
	result := make(chan error, 1)
	p.creates.Add(1)
	go func() {
		defer p.creates.Done()
		result <- kp.Create(rec.Name,
			kindcluster.CreateWithV1Alpha4Config(cfg),
			kindcluster.CreateWithKubeconfigPath(kubeconfigPath),
			kindcluster.CreateWithWaitForReady(0),
			kindcluster.CreateWithDisplayUsage(false),
			kindcluster.CreateWithDisplaySalutation(false),
		)
	}()
	start := time.Now()
	tick := time.NewTicker(cluster.ReportEvery)
	defer tick.Stop()
	for {
		select {
		case err := <-result:
			if err != nil {
				// kind deletes what it created when it fails; the record goes too.
				_ = p.removeRecord(rec.Name)
				return errs.Cluster(fmt.Errorf("create kind cluster %s: %w", rec.Name, describe(err)))
			}
			return nil
		case <-tick.C:
			spec.Note("still creating kind cluster %s after %v: kind is at %q", rec.Name, time.Since(start).Round(time.Second), log.current())
			continue
		case <-ctx.Done():
		}
		break
	}

	// kind cannot be cancelled. Deleting the node containers from under it
	// makes its next step fail; wait a little for it to notice, then delete
	// once more in case it started a container in between.
	at := log.current()
	log.detach()
	_ = kp.Delete(rec.Name, kubeconfigPath)
	select {
	case <-result:
	case <-time.After(p.grace):
		p.opts.Log().Warn("kind create still running after the deadline", "cluster", rec.Name)
	}
	p.cleanup(kp, rec.Name)
	err = fmt.Errorf("create kind cluster %s: not done when the deadline passed, kind still at %q; deleted the half-created cluster: %w", rec.Name, at, context.Cause(ctx))
	if ctx.Err() == context.DeadlineExceeded {
		return errs.Timeout(err)
	}
	return err
}

// cleanup deletes a cluster envctl created in this call and its record.
func (p *Provider) cleanup(kp *kindcluster.Provider, name string) {
	kubeconfigPath, _ := p.kindKubeconfig(name)
	if err := kp.Delete(name, kubeconfigPath); err != nil {
		p.opts.Log().Warn("could not delete half-created kind cluster; delete it with: kind delete cluster --name "+name, "err", err)
		return
	}
	_ = p.removeRecord(name)
}
