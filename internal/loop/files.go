package loop

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultDebounce is how long the files of a local source must be quiet
// before they are rendered again: an editor's save or a `git checkout`
// comes as a burst of events.
const DefaultDebounce = 300 * time.Millisecond

// WatchFiles calls changed once the files under root have been quiet for
// debounce after a change, until ctx ends. Directories created later are
// watched too; .git is not (a commit that changes files changes them in
// the work tree as well).
func WatchFiles(ctx context.Context, root string, debounce time.Duration, changed func(), log *slog.Logger) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch %s: %w", root, err)
	}
	if err := addTree(w, root); err != nil {
		_ = w.Close()
		return fmt.Errorf("watch %s: %w", root, err)
	}
	go func() {
		defer w.Close()
		quiet := time.NewTimer(time.Hour)
		quiet.Stop()
		pending := false
		for {
			select {
			case <-ctx.Done():
				quiet.Stop()
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if ev.Has(fsnotify.Create) {
					if st, err := os.Stat(ev.Name); err == nil && st.IsDir() && !skipDir(ev.Name) {
						if err := addTree(w, ev.Name); err != nil {
							log.Warn("cannot watch a new directory", "path", ev.Name, "err", err)
						}
					}
				}
				if ev.Op == fsnotify.Chmod {
					continue
				}
				pending = true
				quiet.Reset(debounce)
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				log.Warn("file watch error; changes may be missed until the next one", "err", err)
			case <-quiet.C:
				if pending {
					pending = false
					changed()
				}
			}
		}
	}()
	return nil
}

// addTree watches dir and every directory below it.
func addTree(w *fsnotify.Watcher, dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if p != dir && skipDir(p) {
			return filepath.SkipDir
		}
		return w.Add(p)
	})
}

func skipDir(p string) bool { return filepath.Base(p) == ".git" }
