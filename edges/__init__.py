"""The shells' shared edges: what the issuer, the wallet, the verifier and the policy board's tools
use to meet people, files and cameras, and that the credential format must never see.

The console and exit codes, atomic files, bounded inputs, key files and sealing, QR images and
the camera model, the paper page, languages and the plain words residents and desk staff read,
the phone app's files and the shared HTTP middleware. Of cityid's packages it imports only
``credential``.
"""
