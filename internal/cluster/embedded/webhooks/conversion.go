package webhooks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"k8s.io/apiserver/pkg/util/webhook"
	"k8s.io/client-go/rest"
)

// ConversionResolver wraps the authentication-info resolver wrapper of the
// API server's CRD conversion webhooks (apiextensions' AuthResolverWrapper)
// so that a conversion webhook that only a pod could serve is answered by
// the guard inside the client: its requests never leave the process. Other
// webhooks get what base gives.
func (g *Guard) ConversionResolver(base webhook.AuthenticationInfoResolverWrapper) webhook.AuthenticationInfoResolverWrapper {
	return func(delegate webhook.AuthenticationInfoResolver) webhook.AuthenticationInfoResolver {
		inner := delegate
		if base != nil {
			inner = base(delegate)
		}
		return &webhook.AuthenticationInfoResolverDelegator{
			ClientConfigForFunc: func(hostPort string) (*rest.Config, error) {
				host, _, err := net.SplitHostPort(hostPort)
				if err != nil {
					host = hostPort
				}
				if isLocalHost(host) {
					return inner.ClientConfigFor(hostPort)
				}
				return g.conversionConfig(Webhook{URL: "https://" + hostPort}), nil
			},
			ClientConfigForServiceFunc: func(name, namespace string, port int) (*rest.Config, error) {
				if isAPIServer(namespace, name, int32(port)) {
					return inner.ClientConfigForService(name, namespace, port)
				}
				return g.conversionConfig(Webhook{Service: service(namespace, name, int32(port))}), nil
			},
		}
	}
}

// ConversionServiceResolver wraps the API server's Service resolver for
// CRD conversion webhooks. With round-trip load balancing (on by default)
// the webhook client resolves a Service before each request; the guard
// answers those requests itself, so a Service that does not exist, as
// none needs to here, must not fail them first. The address returned is
// never dialled.
func ConversionServiceResolver(base webhook.ServiceResolver) webhook.ServiceResolver {
	return serviceResolver{base: base}
}

type serviceResolver struct{ base webhook.ServiceResolver }

func (r serviceResolver) ResolveEndpoint(namespace, name string, port int32) (*url.URL, error) {
	if isAPIServer(namespace, name, port) && r.base != nil {
		return r.base.ResolveEndpoint(namespace, name, port)
	}
	return &url.URL{Scheme: "https", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port)))}, nil
}

// conversionConfig is a client configuration whose transport is the guard
// answering for hook.
func (g *Guard) conversionConfig(hook Webhook) *rest.Config {
	cfg := &rest.Config{UserAgent: "kube-apiserver-admission"}
	cfg.Wrap(func(http.RoundTripper) http.RoundTripper {
		return &conversionAnswer{g: g, hook: hook}
	})
	return cfg
}

// conversionAnswer is the transport of a conversion webhook's client: it
// answers each ConversionReview by the guard's policy and never calls the
// transport it replaces.
type conversionAnswer struct {
	g    *Guard
	hook Webhook
}

// conversionReview is the part of a ConversionReview
// (apiextensions.k8s.io/v1 or v1beta1) the guard reads and writes.
type conversionReview struct {
	APIVersion string              `json:"apiVersion"`
	Kind       string              `json:"kind"`
	Request    *conversionRequest  `json:"request,omitempty"`
	Response   *conversionResponse `json:"response,omitempty"`
}

type conversionRequest struct {
	UID               string            `json:"uid"`
	DesiredAPIVersion string            `json:"desiredAPIVersion"`
	Objects           []json.RawMessage `json:"objects"`
}

type conversionResponse struct {
	UID              string           `json:"uid"`
	ConvertedObjects []map[string]any `json:"convertedObjects"`
	Result           map[string]any   `json:"result"`
}

func (c *conversionAnswer) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body == nil {
		return nil, errors.New("conversion request without a body")
	}
	defer req.Body.Close()
	var in conversionReview
	if err := json.NewDecoder(io.LimitReader(req.Body, maxReviewBytes)).Decode(&in); err != nil || in.Request == nil {
		return nil, fmt.Errorf("not a conversion review: %v", err)
	}
	hook := c.hook
	hook.Kind = "CustomResourceDefinition"
	hook.Name = kindOf(in.Request.Objects)
	policy := c.g.Policy()
	c.g.logOnce(hook, policy)
	if policy == Fail {
		return nil, errors.New(hook.Failed())
	}
	// Skip: the webhook is absent, so the CRD converts as with strategy
	// None, which changes nothing but the apiVersion.
	out := conversionReview{
		APIVersion: in.APIVersion,
		Kind:       "ConversionReview",
		Response: &conversionResponse{
			UID:              in.Request.UID,
			ConvertedObjects: make([]map[string]any, 0, len(in.Request.Objects)),
			Result:           map[string]any{"status": "Success"},
		},
	}
	for _, raw := range in.Request.Objects {
		var obj map[string]any
		if err := json.Unmarshal(raw, &obj); err != nil {
			return nil, fmt.Errorf("conversion review object: %w", err)
		}
		obj["apiVersion"] = in.Request.DesiredAPIVersion
		out.Response.ConvertedObjects = append(out.Response.ConvertedObjects, obj)
	}
	body, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	return &http.Response{
		StatusCode:    http.StatusOK,
		Status:        "200 OK",
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": []string{"application/json"}},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}, nil
}

// kindOf names the kind of the objects being converted, as
// "Widget.example.com": the review does not carry the CRD's name.
func kindOf(objects []json.RawMessage) string {
	for _, raw := range objects {
		var tm struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if json.Unmarshal(raw, &tm) == nil && tm.Kind != "" {
			group, _, _ := strings.Cut(tm.APIVersion, "/")
			return tm.Kind + "." + group
		}
	}
	return "(unknown)"
}
