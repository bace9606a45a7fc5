//go:build tools

// Package clients pins the programs hack/build-lab-clients.sh builds.
package clients

import _ "github.com/fullstorydev/grpcurl/cmd/grpcurl"
