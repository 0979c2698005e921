module kirjaamo.dev/workflows

go 1.26.8
