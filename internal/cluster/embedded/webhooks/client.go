package webhooks

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"k8s.io/client-go/rest"
)

// Policy asks the cluster behind client for its webhook policy. ok is
// false, with no error, when the cluster is not an embedded one (it does
// not serve PolicyPath).
func Policy(ctx context.Context, client rest.Interface) (policy string, ok bool, err error) {
	res := client.Get().AbsPath(PolicyPath).Do(ctx)
	var code int
	res.StatusCode(&code)
	if code == http.StatusNotFound || code == http.StatusForbidden || code == http.StatusUnauthorized {
		return "", false, nil
	}
	body, err := res.Raw()
	if err != nil {
		return "", false, fmt.Errorf("ask the cluster for its webhook policy: %w", err)
	}
	var out struct {
		Policy string `json:"policy"`
	}
	if err := json.Unmarshal(body, &out); err != nil || (out.Policy != Skip && out.Policy != Fail) {
		return "", false, nil
	}
	return out.Policy, true, nil
}
