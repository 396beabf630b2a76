// minio-admin: gives a MinIO bucket its own user, allowed that bucket and nothing else, through
// MinIO's admin API (madmin-go, MinIO's maintained client). Services then never hold the root user.
//
//	MINIO_ROOT_USER=... MINIO_ROOT_PASSWORD=... SCOPED_SECRET_KEY=... \
//	  minio-admin bucket-user -endpoint 127.0.0.1:9000 -bucket mambalign -user mambalign-svc
//
// The user's secret comes from the environment, never the command line (visible in ps).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"regexp"
	"time"

	"github.com/minio/madmin-go/v3"
)

var bucketRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// bucketPolicy allows every S3 action on one bucket and its objects, and no other bucket.
func bucketPolicy(bucket string) ([]byte, error) {
	return json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{{
			"Effect":   "Allow",
			"Action":   []string{"s3:*"},
			"Resource": []string{"arn:aws:s3:::" + bucket, "arn:aws:s3:::" + bucket + "/*"},
		}},
	})
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "minio-admin: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 2 || os.Args[1] != "bucket-user" {
		fail("usage: minio-admin bucket-user -endpoint HOST:PORT -bucket NAME -user ACCESS_KEY [-secure] (env MINIO_ROOT_USER, MINIO_ROOT_PASSWORD, SCOPED_SECRET_KEY)")
	}
	fs := flag.NewFlagSet("bucket-user", flag.ExitOnError)
	endpoint := fs.String("endpoint", "", "MinIO host:port")
	bucket := fs.String("bucket", "", "the bucket the user may use")
	user := fs.String("user", "", "the user's access key")
	secure := fs.Bool("secure", false, "use https")
	_ = fs.Parse(os.Args[2:])
	rootUser, rootPassword, secret := os.Getenv("MINIO_ROOT_USER"), os.Getenv("MINIO_ROOT_PASSWORD"), os.Getenv("SCOPED_SECRET_KEY")
	switch {
	case *endpoint == "":
		fail("-endpoint is required")
	case !bucketRE.MatchString(*bucket):
		fail("-bucket %q is not a valid bucket name", *bucket)
	case *user == "":
		fail("-user is required")
	case rootUser == "" || rootPassword == "":
		fail("MINIO_ROOT_USER and MINIO_ROOT_PASSWORD must be set")
	case len(secret) < 8:
		fail("SCOPED_SECRET_KEY must be set (8 characters or more)")
	}
	adm, err := madmin.New(*endpoint, rootUser, rootPassword, *secure)
	if err != nil {
		fail("client for %s: %v", *endpoint, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	policyName := "bucket-" + *bucket
	policy, err := bucketPolicy(*bucket)
	if err != nil {
		fail("policy: %v", err)
	}
	if err := adm.AddCannedPolicy(ctx, policyName, policy); err != nil {
		fail("add policy %s: %v", policyName, err)
	}
	if err := adm.AddUser(ctx, *user, secret); err != nil {
		fail("add user %s: %v", *user, err)
	}
	// Attaching an already attached policy is an error MinIO reports; a rerun is then already done.
	if _, err := adm.AttachPolicy(ctx, madmin.PolicyAssociationReq{Policies: []string{policyName}, User: *user}); err != nil {
		if e, ok := err.(madmin.ErrorResponse); !ok || e.Code != "XMinioAdminPolicyChangeAlreadyApplied" {
			fail("attach policy %s to %s: %v", policyName, *user, err)
		}
	}
	fmt.Printf("user %s may use bucket %s only (policy %s)\n", *user, *bucket, policyName)
}
