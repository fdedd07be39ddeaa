"""Push to all (v4 all_member_push/im_push): the fan-out, run by Celery."""
