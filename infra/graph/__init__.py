"""Graph I/O: sign-in, the transport (retries, Retry-After, paging, batch), the reads of audit and adopt, the writer.

Below the Pulumi program and above the model: it reads and writes Microsoft Graph and knows nothing of the engine.
"""
