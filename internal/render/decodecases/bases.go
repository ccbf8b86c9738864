// Package decodecases holds valid Kubernetes objects and the mutations that
// real templates and editors make to them (null and empty maps, YAML 1.1
// scalars, duplicate keys, byte-order marks, JSON, List kinds...). Render's
// fuzz target takes them as seeds, and the differential test in
// internal/render/difftest compares envctl's verdict on each with kubectl's
// and the API server's.
package decodecases

// Base is a valid object, written in the block style of a chart template,
// that the mutations change.
type Base struct {
	// Name names the base in tables: its kind.
	Name string
	// Doc is the object's YAML. Its metadata block starts with
	// "metadata:\n  name: ...\n", where the mutations add fields.
	Doc string
	// Namespaced says whether the kind is namespaced.
	Namespaced bool
}

// Group and names of the custom resources of the bases: WidgetCRD must
// exist in the cluster for the Widget base; the Gadget CRD is a base itself.
const (
	Group     = "difftest.envctl.dev"
	WidgetCRD = "widgets." + Group
)

// crd returns a CustomResourceDefinition of a namespaced kind whose spec
// has an integer, a string and a list of strings.
func crd(plural, singular, kind string) string {
	return `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: ` + plural + `.` + Group + `
spec:
  group: ` + Group + `
  scope: Namespaced
  names:
    plural: ` + plural + `
    singular: ` + singular + `
    kind: ` + kind + `
    listKind: ` + kind + `List
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size:
                type: integer
              color:
                type: string
              tags:
                type: array
                items:
                  type: string
`
}

// WidgetCRDDoc is the CRD of the Widget base, created before the test.
var WidgetCRDDoc = crd("widgets", "widget", "Widget")

// Bases are the objects the mutations apply to.
var Bases = []Base{
	{Name: "ConfigMap", Namespaced: true, Doc: `apiVersion: v1
kind: ConfigMap
metadata:
  name: difftest-cm
data:
  key: value
`},
	{Name: "Secret", Namespaced: true, Doc: `apiVersion: v1
kind: Secret
metadata:
  name: difftest-secret
type: Opaque
stringData:
  password: difftest-canary-2718
`},
	{Name: "Service", Namespaced: true, Doc: `apiVersion: v1
kind: Service
metadata:
  name: difftest-svc
spec:
  selector:
    app: web
  ports:
  - name: http
    port: 80
    targetPort: 8080
`},
	{Name: "Deployment", Namespaced: true, Doc: `apiVersion: apps/v1
kind: Deployment
metadata:
  name: difftest-web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: example.com/web:1
        env:
        - name: MODE
          value: fast
        ports:
        - containerPort: 8080
`},
	{Name: "CustomResourceDefinition", Doc: crd("gadgets", "gadget", "Gadget")},
	{Name: "Widget", Namespaced: true, Doc: `apiVersion: ` + Group + `/v1
kind: Widget
metadata:
  name: difftest-widget
spec:
  size: 3
  color: blue
  tags:
  - a
`},
	{Name: "Namespace", Doc: `apiVersion: v1
kind: Namespace
metadata:
  name: difftest-ns
`},
	{Name: "ClusterRole", Doc: `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: difftest-reader
rules:
- apiGroups:
  - ""
  resources:
  - configmaps
  verbs:
  - get
  - list
`},
}
