"""HL7 FHIR AdverseEvent intake (R5 and R4/R4B) onto the case model, and the case read back."""
