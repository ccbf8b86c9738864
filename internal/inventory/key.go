package inventory

import (
	"context"
	"crypto/rand"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/ownership"
)

// KeySecret is the Secret, in envctl's namespace, that holds the key of the
// fingerprints envctl records of Secrets (kube.Fingerprints). It is a Secret
// so that only those who may read Secrets can recompute a fingerprint and
// test a guess of a value against it; the inventory ConfigMaps and the
// objects' annotations, which more people can read, hold only the HMACs.
const KeySecret = "envctl-fingerprint-key"

const (
	keyData = "key"
	keySize = 32
)

// SecretKey returns the cluster's fingerprint key. When there is none, it
// is created if create is set (with envctl's namespace, on the first apply
// of a Secret) and nil is returned otherwise (`envctl diff`, which writes
// nothing, then compares Secrets through the server). One GET when the key
// exists.
func (s *Store) SecretKey(ctx context.Context, create bool) ([]byte, error) {
	secrets := s.Client.CoreV1().Secrets(s.namespace())
	sec, err := secrets.Get(ctx, KeySecret, metav1.GetOptions{})
	switch {
	case err == nil:
		return keyOf(sec)
	case !apierrors.IsNotFound(err):
		if apierrors.IsForbidden(err) && !create {
			return nil, nil // may not read Secrets here: compare through the server
		}
		return nil, errs.Cluster(fmt.Errorf("read the fingerprint key %s/%s: %w", s.namespace(), KeySecret, err))
	case !create:
		return nil, nil
	}
	if err := s.ensureNamespace(ctx); err != nil {
		return nil, err
	}
	key := make([]byte, keySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("make the fingerprint key: %w", err)
	}
	sec = &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:      KeySecret,
			Namespace: s.namespace(),
			Labels:    map[string]string{ownership.LabelManagedBy: ownership.ManagedByValue},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{keyData: key},
	}
	created, err := secrets.Create(ctx, sec, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		// Another envctl made it first: use theirs.
		created, err = secrets.Get(ctx, KeySecret, metav1.GetOptions{})
	}
	if err != nil {
		return nil, errs.Cluster(fmt.Errorf("create the fingerprint key %s/%s: %w", s.namespace(), KeySecret, err))
	}
	return keyOf(created)
}

func keyOf(sec *corev1.Secret) ([]byte, error) {
	key := sec.Data[keyData]
	if len(key) < 16 {
		return nil, errs.Inputf("the fingerprint key %s/%s holds %d bytes under %q, want at least 16; delete it and envctl makes a new one", sec.Namespace, sec.Name, len(key), keyData)
	}
	return key, nil
}
