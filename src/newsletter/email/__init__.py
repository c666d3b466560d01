"""The email: an Issue -> MJML -> responsive HTML, plain text and a MIME message, with the
checks editors see. Receives data; reads no database and no feed."""
