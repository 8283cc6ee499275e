// Command remotesetup creates or removes the bucket and container that
// bench/remote.sh runs its benchmark in, on the test-owned S3 server and
// Azurite. It reads the servers from the BACKUPBOT_TEST_S3_* and
// BACKUPBOT_TEST_AZURE_CONNECTION_STRING variables that the service
// scripts export.
//
//	remotesetup create NAME   create bucket NAME and container NAME
//	remotesetup remove NAME   delete both with everything in them
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	s3sdk "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/backupbot/backupbot/storage/azure"
	"github.com/backupbot/backupbot/storage/s3"
)

func main() {
	if len(os.Args) != 3 || (os.Args[1] != "create" && os.Args[1] != "remove") {
		fmt.Fprintln(os.Stderr, "usage: remotesetup create|remove NAME")
		os.Exit(2)
	}
	if err := run(context.Background(), os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintf(os.Stderr, "remotesetup: %v\n", err)
		os.Exit(1)
	}
}

type servers struct {
	endpoint, access, secret, region, azureCS string
}

func fromEnv() (servers, error) {
	s := servers{
		endpoint: os.Getenv("BACKUPBOT_TEST_S3_ENDPOINT"), access: os.Getenv("BACKUPBOT_TEST_S3_ACCESS_KEY"),
		secret: os.Getenv("BACKUPBOT_TEST_S3_SECRET_KEY"), region: os.Getenv("BACKUPBOT_TEST_S3_REGION"),
		azureCS: os.Getenv("BACKUPBOT_TEST_AZURE_CONNECTION_STRING"),
	}
	if s.endpoint == "" || s.access == "" || s.secret == "" || s.azureCS == "" {
		return s, errors.New("BACKUPBOT_TEST_S3_* or BACKUPBOT_TEST_AZURE_CONNECTION_STRING is unset: start the servers with scripts/services/s3.sh and azurite.sh")
	}
	if s.region == "" {
		s.region = s3.DefaultRegion
	}
	return s, nil
}

func run(ctx context.Context, op, name string) error {
	srv, err := fromEnv()
	if err != nil {
		return err
	}
	creds := credentials.NewStaticCredentialsProvider(srv.access, srv.secret, "")
	if op == "create" {
		if _, err := s3.New(ctx, s3.Options{Bucket: name, Endpoint: srv.endpoint, Region: srv.region, PathStyle: true, Credentials: creds, CreateBucket: true}); err != nil {
			return err
		}
		_, err := azure.New(ctx, azure.Options{Container: name, ConnectionString: srv.azureCS, CreateContainer: true})
		return err
	}
	c := s3sdk.New(s3sdk.Options{BaseEndpoint: aws.String(srv.endpoint), Region: srv.region, UsePathStyle: true, Credentials: creds,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired})
	p := s3sdk.NewListObjectsV2Paginator(c, &s3sdk.ListObjectsV2Input{Bucket: aws.String(name)})
	var noBucket *types.NoSuchBucket
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if errors.As(err, &noBucket) {
			break
		}
		if err != nil {
			return fmt.Errorf("listing bucket %s: %w", name, err)
		}
		for _, o := range page.Contents {
			if _, err := c.DeleteObject(ctx, &s3sdk.DeleteObjectInput{Bucket: aws.String(name), Key: o.Key}); err != nil {
				return fmt.Errorf("emptying bucket %s: %w", name, err)
			}
		}
	}
	if _, err := c.DeleteBucket(ctx, &s3sdk.DeleteBucketInput{Bucket: aws.String(name)}); err != nil && !errors.As(err, &noBucket) &&
		!strings.Contains(err.Error(), "NoSuchBucket") {
		return fmt.Errorf("deleting bucket %s: %w", name, err)
	}
	ac, err := azblob.NewClientFromConnectionString(srv.azureCS, nil)
	if err != nil {
		return errors.New("the Azure connection string is malformed")
	}
	if _, err := ac.DeleteContainer(ctx, name, nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerNotFound) {
		return fmt.Errorf("deleting container %s: %w", name, err)
	}
	return nil
}
