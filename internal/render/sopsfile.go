package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"path"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/envctl/envctl/internal/sopskeys"
)

// SOPS files are read here without the sops library, whose stores bring
// every cloud KMS client with them: envctl only decrypts, with local keys
// or through sops key services.
// Every format is read into yaml.v3 nodes, which keep key order, lists and
// scalar types, and written back in the file's own format.

// sopsFormat is the layout of a SOPS file, chosen by its extension as the
// sops tool chooses its store.
type sopsFormat int

const (
	sopsYAML sopsFormat = iota
	sopsJSON
	sopsDotenv
	sopsBinary
)

func sopsFormatFor(name string) sopsFormat {
	switch strings.ToLower(path.Ext(name)) {
	case ".yaml", ".yml":
		return sopsYAML
	case ".json":
		return sopsJSON
	case ".env":
		return sopsDotenv
	default:
		return sopsBinary
	}
}

// errNoMetadata says a file has no sops metadata: it is not a SOPS file.
var errNoMetadata = errors.New("no sops metadata")

// sopsMetadata is the "sops" entry of a file, the part envctl reads.
type sopsMetadata struct {
	ShamirThreshold         int            `yaml:"shamir_threshold"`
	KeyGroups               []sopsKeyGroup `yaml:"key_groups"`
	sopsKeyGroup            `yaml:",inline"`
	LastModified            string `yaml:"lastmodified"`
	MAC                     string `yaml:"mac"`
	UnencryptedSuffix       string `yaml:"unencrypted_suffix"`
	EncryptedSuffix         string `yaml:"encrypted_suffix"`
	UnencryptedRegex        string `yaml:"unencrypted_regex"`
	EncryptedRegex          string `yaml:"encrypted_regex"`
	UnencryptedCommentRegex string `yaml:"unencrypted_comment_regex"`
	EncryptedCommentRegex   string `yaml:"encrypted_comment_regex"`
	MACOnlyEncrypted        bool   `yaml:"mac_only_encrypted"`
	Version                 string `yaml:"version"`
}

// sopsKeyGroup lists the master keys one share of the data key is
// encrypted for. envctl opens age and PGP keys itself; key services open
// every kind.
type sopsKeyGroup struct {
	Age []struct {
		Recipient string `yaml:"recipient"`
		Enc       string `yaml:"enc"`
	} `yaml:"age"`
	PGP []struct {
		Fingerprint string `yaml:"fp"`
		Enc         string `yaml:"enc"`
	} `yaml:"pgp"`
	KMS []struct {
		Arn     string            `yaml:"arn"`
		Role    string            `yaml:"role"`
		Context map[string]string `yaml:"context"`
		Profile string            `yaml:"aws_profile"`
		Enc     string            `yaml:"enc"`
	} `yaml:"kms"`
	GCPKMS []struct {
		ResourceID string `yaml:"resource_id"`
		Enc        string `yaml:"enc"`
	} `yaml:"gcp_kms"`
	AzureKV []struct {
		VaultURL string `yaml:"vault_url"`
		Name     string `yaml:"name"`
		Version  string `yaml:"version"`
		Enc      string `yaml:"enc"`
	} `yaml:"azure_kv"`
	Vault []struct {
		Address string `yaml:"vault_address"`
		Engine  string `yaml:"engine_path"`
		Key     string `yaml:"key_name"`
		Enc     string `yaml:"enc"`
	} `yaml:"hc_vault"`
	HCKMS []struct {
		KeyID string `yaml:"key_id"`
		Enc   string `yaml:"enc"`
	} `yaml:"hckms"`
}

// serviceKey is a master key of a group as a key service is asked about
// it, with its encrypted share.
type serviceKey struct {
	key sopskeys.Key
	enc string
}

// serviceKeys are the group's master keys, every kind, for key services.
func (g sopsKeyGroup) serviceKeys() []serviceKey {
	var out []serviceKey
	for _, k := range g.Age {
		out = append(out, serviceKey{sopskeys.AgeKey(k.Recipient), k.Enc})
	}
	for _, k := range g.PGP {
		out = append(out, serviceKey{sopskeys.PGPKey(k.Fingerprint), k.Enc})
	}
	for _, k := range g.KMS {
		out = append(out, serviceKey{sopskeys.KMSKey(k.Arn, k.Role, k.Context, k.Profile), k.Enc})
	}
	for _, k := range g.GCPKMS {
		out = append(out, serviceKey{sopskeys.GCPKMSKey(k.ResourceID), k.Enc})
	}
	for _, k := range g.AzureKV {
		out = append(out, serviceKey{sopskeys.AzureKVKey(k.VaultURL, k.Name, k.Version), k.Enc})
	}
	for _, k := range g.Vault {
		out = append(out, serviceKey{sopskeys.VaultKey(k.Address, k.Engine, k.Key), k.Enc})
	}
	for _, k := range g.HCKMS {
		out = append(out, serviceKey{sopskeys.HCKMSKey(k.KeyID), k.Enc})
	}
	return out
}

// groups returns the key groups: key_groups, or the top-level keys as one
// group.
func (m *sopsMetadata) groups() []sopsKeyGroup {
	if len(m.KeyGroups) > 0 {
		return m.KeyGroups
	}
	return []sopsKeyGroup{m.sopsKeyGroup}
}

// sopsDoc is a loaded SOPS file: its documents (mapping nodes) and its
// metadata.
type sopsDoc struct {
	format sopsFormat
	docs   []*yaml.Node
	meta   sopsMetadata
}

// loadSOPS parses an encrypted file in the given format.
func loadSOPS(data []byte, format sopsFormat) (*sopsDoc, error) {
	d := &sopsDoc{format: format}
	var metaNode *yaml.Node
	var err error
	switch format {
	case sopsYAML:
		d.docs, err = parseYAMLDocs(data)
	case sopsJSON, sopsBinary:
		var n *yaml.Node
		n, err = parseJSON(data)
		d.docs = []*yaml.Node{n}
	case sopsDotenv:
		var n *yaml.Node
		n, metaNode, err = parseDotenv(data)
		d.docs = []*yaml.Node{n}
	}
	if err != nil {
		return nil, err
	}
	if format != sopsDotenv {
		for i, doc := range d.docs {
			for j := 0; j+1 < len(doc.Content); j += 2 {
				if doc.Content[j].Value != "sops" {
					continue
				}
				if i == 0 {
					if metaNode != nil {
						return nil, errors.New("more than one sops entry")
					}
					metaNode = doc.Content[j+1]
				}
				doc.Content = append(doc.Content[:j], doc.Content[j+2:]...)
				j -= 2
			}
		}
	}
	if metaNode == nil {
		return nil, errNoMetadata
	}
	if metaNode.Kind != yaml.MappingNode {
		return nil, errors.New("the sops entry is not a mapping")
	}
	if err := metaNode.Decode(&d.meta); err != nil {
		return nil, fmt.Errorf("the sops entry: %w", err)
	}
	if format == sopsBinary {
		if len(d.docs[0].Content) != 2 || d.docs[0].Content[0].Value != "data" {
			return nil, errors.New("a binary SOPS file holds one data entry")
		}
	}
	return d, nil
}

// parseYAMLDocs reads every document of a YAML file; each must be a mapping.
func parseYAMLDocs(data []byte) ([]*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(n.Content) == 0 {
			continue
		}
		root := n.Content[0]
		if root.Kind != yaml.MappingNode {
			return nil, errors.New("a document is not a mapping")
		}
		docs = append(docs, root)
	}
	if len(docs) == 0 {
		return nil, errNoMetadata
	}
	return docs, nil
}

// parseJSON reads a JSON object into nodes, keeping key order and telling
// integers from floats as sops does.
func parseJSON(data []byte) (*yaml.Node, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	n, err := jsonNode(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("data after the JSON object")
	}
	if n.Kind != yaml.MappingNode {
		return nil, errors.New("not a JSON object")
	}
	return n, nil
}

func jsonNode(dec *json.Decoder, depth int) (*yaml.Node, error) {
	if depth > 1000 {
		return nil, errors.New("JSON nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return nil, err
				}
				ks, ok := k.(string)
				if !ok {
					return nil, errors.New("a JSON key is not a string")
				}
				v, err := jsonNode(dec, depth+1)
				if err != nil {
					return nil, err
				}
				n.Content = append(n.Content, strNode(ks), v)
			}
			_, err := dec.Token()
			return n, err
		case '[':
			n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
			for dec.More() {
				v, err := jsonNode(dec, depth+1)
				if err != nil {
					return nil, err
				}
				n.Content = append(n.Content, v)
			}
			_, err := dec.Token()
			return n, err
		}
		return nil, fmt.Errorf("unexpected %v", t)
	case string:
		return strNode(t), nil
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(i, 10)}, nil
		}
		f, err := t.Float64()
		if err != nil {
			return nil, fmt.Errorf("a JSON number out of range")
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: formatFloat(f)}, nil
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(t)}, nil
	case nil:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}, nil
	}
	return nil, fmt.Errorf("unexpected JSON token")
}

func strNode(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}

// parseDotenv reads KEY=VALUE lines (\n in a value is a newline; # lines
// are comments, which envctl drops) and the sops_ lines of the metadata,
// flattened as sops writes them.
func parseDotenv(data []byte) (doc, meta *yaml.Node, err error) {
	doc = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	var flat [][2]string
	for i, line := range strings.Split(string(data), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, nil, fmt.Errorf("line %d is not KEY=VALUE", i+1)
		}
		v = strings.ReplaceAll(v, `\n`, "\n")
		if rest, ok := strings.CutPrefix(k, "sops_"); ok {
			flat = append(flat, [2]string{rest, v})
			continue
		}
		doc.Content = append(doc.Content, strNode(k), strNode(v))
	}
	if len(flat) == 0 {
		return doc, nil, nil
	}
	meta, err = unflatten(flat)
	return doc, meta, err
}

// unflatten rebuilds the metadata from keys such as
// age__list_0__map_recipient.
func unflatten(flat [][2]string) (*yaml.Node, error) {
	root := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for _, kv := range flat {
		parts := strings.Split(kv[0], "__")
		cur := root
		for i, p := range parts {
			last := i == len(parts)-1
			var key string
			switch {
			case i == 0:
				key = p
			case strings.HasPrefix(p, "map_"):
				key = p[len("map_"):]
			case strings.HasPrefix(p, "list_"):
				key = p[len("list_"):]
				if _, err := strconv.Atoi(key); err != nil {
					return nil, fmt.Errorf("sops_%s: a bad list index", kv[0])
				}
			default:
				return nil, fmt.Errorf("sops_%s: not a sops metadata key", kv[0])
			}
			var next *yaml.Node
			if !last {
				kind, tag := yaml.MappingNode, "!!map"
				if strings.HasPrefix(parts[i+1], "list_") {
					kind, tag = yaml.SequenceNode, "!!seq"
				}
				next = &yaml.Node{Kind: kind, Tag: tag}
			} else {
				next = &yaml.Node{Kind: yaml.ScalarNode, Value: kv[1]}
			}
			child, err := childNode(cur, key, next)
			if err != nil {
				return nil, fmt.Errorf("sops_%s: %w", kv[0], err)
			}
			cur = child
		}
	}
	return root, nil
}

// childNode finds or adds the child of n named key (an index in a list).
func childNode(n *yaml.Node, key string, add *yaml.Node) (*yaml.Node, error) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				if n.Content[i+1].Kind != add.Kind {
					return nil, errors.New("conflicting entries")
				}
				return n.Content[i+1], nil
			}
		}
		n.Content = append(n.Content, strNode(key), add)
		return add, nil
	case yaml.SequenceNode:
		i, _ := strconv.Atoi(key)
		if i < len(n.Content) {
			if n.Content[i].Kind != add.Kind {
				return nil, errors.New("conflicting entries")
			}
			return n.Content[i], nil
		}
		if i != len(n.Content) {
			return nil, errors.New("list entries out of order")
		}
		n.Content = append(n.Content, add)
		return add, nil
	}
	return nil, errors.New("a value where a mapping or list belongs")
}

// emit writes the decrypted documents in the file's format.
func (d *sopsDoc) emit() ([]byte, error) {
	var buf bytes.Buffer
	switch d.format {
	case sopsYAML:
		for i, doc := range d.docs {
			if i > 0 {
				buf.WriteString("---\n")
			}
			enc := yaml.NewEncoder(&buf)
			enc.SetIndent(2)
			if err := enc.Encode(doc); err != nil {
				return nil, err
			}
			if err := enc.Close(); err != nil {
				return nil, err
			}
		}
	case sopsJSON:
		if err := writeJSON(&buf, d.docs[0]); err != nil {
			return nil, err
		}
		buf.WriteByte('\n')
	case sopsDotenv:
		doc := d.docs[0]
		for i := 0; i+1 < len(doc.Content); i += 2 {
			v := doc.Content[i+1]
			if v.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("%s is not a plain value", doc.Content[i].Value)
			}
			fmt.Fprintf(&buf, "%s=%s\n", doc.Content[i].Value, strings.ReplaceAll(v.Value, "\n", `\n`))
		}
	case sopsBinary:
		buf.WriteString(d.docs[0].Content[1].Value)
	}
	return buf.Bytes(), nil
}

func writeJSON(buf *bytes.Buffer, n *yaml.Node) error {
	switch n.Kind {
	case yaml.MappingNode:
		buf.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			if i > 0 {
				buf.WriteByte(',')
			}
			k, _ := json.Marshal(n.Content[i].Value)
			buf.Write(k)
			buf.WriteByte(':')
			if err := writeJSON(buf, n.Content[i+1]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case yaml.SequenceNode:
		buf.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeJSON(buf, c); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!int", "!!bool":
			buf.WriteString(n.Value)
		case "!!null":
			buf.WriteString("null")
		case "!!float":
			f, err := strconv.ParseFloat(n.Value, 64)
			if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
				return errors.New("a float JSON cannot hold")
			}
			buf.WriteString(n.Value)
		default:
			s, _ := json.Marshal(n.Value)
			buf.Write(s)
		}
	default:
		return errors.New("an unexpected JSON value")
	}
	return nil
}

// formatFloat writes a float so that YAML and JSON read it back as a float.
func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return ".inf"
	case math.IsInf(f, -1):
		return "-.inf"
	case math.IsNaN(f):
		return ".nan"
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return s
}
