package kind

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"sigs.k8s.io/kind/pkg/cluster/nodes"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"

	"github.com/envctl/envctl/internal/cluster"
	"github.com/envctl/envctl/internal/errs"
)

// LoadImages copies images from the host's container runtime into every
// node of the cluster that does not have them yet, as `kind load
// docker-image` does: the images are saved once to an archive and
// imported into each node's containerd. A pod then runs the image by the
// same name, with imagePullPolicy IfNotPresent (a :latest tag pulls by
// default, so tag images with something else).
func (p *Provider) LoadImages(ctx context.Context, name string, images []string, progress cluster.Progress) ([]cluster.LoadedImage, error) {
	rec, err := p.readRecord(name)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, cluster.NotFound(p.Name(), name)
	}
	rt, err := p.runtimeFor(ctx, name, rec)
	if err != nil {
		return nil, err
	}
	cs, err := listContainers(ctx, rt, name)
	if err != nil {
		return nil, errs.Cluster(err)
	}
	if len(stopped(cs)) > 0 {
		return nil, errs.Cluster(fmt.Errorf("%s", stoppedMessage(name, cs)))
	}
	kp, log, err := p.kind(rt, nil)
	if err != nil {
		return nil, err
	}
	defer log.detach()
	internal, err := kp.ListInternalNodes(name)
	if err != nil {
		return nil, errs.Cluster(fmt.Errorf("list the nodes of kind cluster %s: %w", name, describe(err)))
	}
	images = slices.Compact(slices.Clone(images))
	results := make([]cluster.LoadedImage, len(images))
	need := map[string]nodes.Node{}
	var toSave []string
	for i, img := range images {
		out, err := run(ctx, rt, nil, "image", "inspect", "--format", "{{.Id}}", img)
		if err != nil {
			return nil, errs.Inputf("image %s is not in %s's image store (build or pull it first, such as: %s build -t %s .): %v", img, rt.Client(), rt.Client(), img, err)
		}
		results[i] = cluster.LoadedImage{Image: img, ID: strings.TrimSpace(string(out))}
		missing := false
		for _, n := range internal {
			if id, err := nodeutils.ImageID(n, img); err == nil && id == results[i].ID {
				results[i].Present = append(results[i].Present, n.String())
				continue
			}
			results[i].Loaded = append(results[i].Loaded, n.String())
			need[n.String()] = n
			missing = true
		}
		if missing {
			toSave = append(toSave, img)
		}
	}
	if len(toSave) == 0 {
		return results, nil
	}
	return results, p.importImages(ctx, rt, toSave, need, progress)
}

// importImages saves images into one archive and imports it into nodes,
// concurrently.
func (p *Provider) importImages(ctx context.Context, rt *cluster.Runtime, images []string, need map[string]nodes.Node, progress cluster.Progress) error {
	dir, err := os.MkdirTemp("", "envctl-images-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	archive := filepath.Join(dir, "images.tar")
	done := step(progress, fmt.Sprintf("Saving %s from %s", strings.Join(images, ", "), rt.Client()))
	_, err = run(ctx, rt, nil, append([]string{"save", "-o", archive}, images...)...)
	done(err)
	if err != nil {
		return errs.Cluster(err)
	}
	names := make([]string, 0, len(need))
	for n := range need {
		names = append(names, n)
	}
	slices.Sort(names)
	done = step(progress, "Importing into "+strings.Join(names, ", "))
	var wg sync.WaitGroup
	failures := make([]error, len(names))
	for i, n := range names {
		wg.Go(func() {
			f, err := os.Open(archive)
			if err != nil {
				failures[i] = err
				return
			}
			defer f.Close()
			if err := nodeutils.LoadImageArchive(need[n], f); err != nil {
				failures[i] = fmt.Errorf("node %s: %w", n, describe(err))
			}
		})
	}
	wg.Wait()
	err = errorsJoin(failures)
	done(err)
	return errs.Cluster(err)
}

// step begins a step on progress, which may be nil.
func step(progress cluster.Progress, name string) func(error) {
	if progress == nil {
		return func(error) {}
	}
	return progress.Step(name)
}

// errorsJoin joins the non-nil errors; nil when there are none.
func errorsJoin(list []error) error {
	var msgs []string
	for _, e := range list {
		if e != nil {
			msgs = append(msgs, e.Error())
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return fmt.Errorf("%s", strings.Join(msgs, "; "))
}
