module kirjaamo.dev/services

go 1.26.8
