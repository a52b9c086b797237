// Command sprig-oracle renders templates the way the Go sealed-secrets controller renders
// spec.template.data: text/template with sprig's generic function map minus env, expandenv
// and getHostByName, executed on a map[string]string of the decrypted values.
//
// Input (stdin): a JSON array of {"t": template, "v": {name: value}}.
// Output (stdout): a JSON array, one {"out": text} or {"err": message} per input.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"text/template"

	"github.com/Masterminds/sprig"
)

type input struct {
	T string            `json:"t"`
	V map[string]string `json:"v"`
}

type output struct {
	Out *string `json:"out,omitempty"`
	Err *string `json:"err,omitempty"`
}

func render(funcs template.FuncMap, in input) (out output) {
	defer func() {
		if r := recover(); r != nil {
			msg := fmt.Sprintf("panic: %v", r)
			out = output{Err: &msg}
		}
	}()
	t, err := template.New("data").Funcs(funcs).Parse(in.T)
	if err == nil {
		var buf bytes.Buffer
		if in.V == nil {
			in.V = map[string]string{}
		}
		if err = t.Execute(&buf, in.V); err == nil {
			s := buf.String()
			return output{Out: &s}
		}
	}
	msg := err.Error()
	return output{Err: &msg}
}

func main() {
	funcs := sprig.GenericFuncMap()
	for _, name := range []string{"env", "expandenv", "getHostByName"} {
		delete(funcs, name)
	}
	if len(os.Args) > 1 && os.Args[1] == "names" {
		for name := range funcs {
			fmt.Println(name)
		}
		return
	}
	var ins []input
	if err := json.NewDecoder(os.Stdin).Decode(&ins); err != nil {
		fmt.Fprintln(os.Stderr, "sprig-oracle: reading the input:", err)
		os.Exit(2)
	}
	outs := make([]output, 0, len(ins))
	for _, in := range ins {
		outs = append(outs, render(funcs, in))
	}
	if err := json.NewEncoder(os.Stdout).Encode(outs); err != nil {
		fmt.Fprintln(os.Stderr, "sprig-oracle: writing the output:", err)
		os.Exit(2)
	}
}
